#include "engine/ops/linear.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <new>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/ops/bf16.h"
#include "engine/ops/parallel_for.h"

namespace kvasir::engine {

absl::string_view WeightsDtypeName(WeightsDtype dtype) {
  switch (dtype) {
    case WeightsDtype::kF32:
      return "f32";
    case WeightsDtype::kBF16:
      return "bf16";
    case WeightsDtype::kF16:
      return "f16";
  }
  return "?";
}

absl::StatusOr<WeightsDtype> ParseWeightsDtype(absl::string_view text,
                                               absl::string_view field) {
  if (text == "f32") return WeightsDtype::kF32;
  if (text == "bf16") return WeightsDtype::kBF16;
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", text, "' is not one of f32, bf16"));
}

namespace ops {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

absl::Status FromDnnl(const dnnl::error& e, absl::string_view what) {
  if (e.status == dnnl_unimplemented) {
    return absl::UnimplementedError(absl::StrCat(
        what, ": oneDNN has no kernel for it on this CPU (", e.what(), ")"));
  }
  if (e.status == dnnl_out_of_memory) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": out of memory (", e.what(), ")"));
  }
  return absl::InternalError(absl::StrCat(what, ": oneDNN error ", e.what()));
}

GemvWeights GemvType(WeightsDtype dtype) {
  return dtype == WeightsDtype::kBF16  ? GemvWeights::kBF16
         : dtype == WeightsDtype::kF16 ? GemvWeights::kF16
                                       : GemvWeights::kF32;
}

// Whether oneDNN has a bf16 matmul on this CPU (2.6: AVX-512 only).
bool OneDnnHasBf16() {
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(dnnl::memory::desc({1, 16}, dt::bf16, tag::ab),
                           dnnl::memory::desc({16, 16}, dt::bf16, tag::any),
                           dnnl::memory::desc({1, 16}, dt::f32, tag::ab)),
        eng);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MatmulContext>> MatmulContext::Create() {
  return Create(Options());
}

absl::StatusOr<std::unique_ptr<MatmulContext>> MatmulContext::Create(
    const Options& options) {
  if (options.primitive_cache_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("matmul context: primitive_cache_size ",
                     options.primitive_cache_size, " must be at least 1"));
  }
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    return std::unique_ptr<MatmulContext>(
        new MatmulContext(options, std::move(engine), std::move(stream)));
  } catch (const dnnl::error& e) {
    return FromDnnl(e, "creating the oneDNN CPU engine");
  }
}

MatmulContext::MatmulContext(const Options& options, dnnl::engine engine,
                             dnnl::stream stream)
    : options_(options),
      engine_(std::move(engine)),
      stream_(std::move(stream)),
      gemv_cursors_(new WorkCursor[std::max(1, omp_get_max_threads())]),
      gemv_cursor_count_(std::max(1, omp_get_max_threads())) {}

MatmulContext::~MatmulContext() = default;

void MatmulContext::ReserveBf16Scratch(int64_t elements) {
  if (static_cast<int64_t>(bf16_scratch_.size()) < elements) {
    bf16_scratch_.resize(static_cast<size_t>(elements));
  }
}

int MatmulContext::RowBucket(int m, int max_rows) {
  if (m <= 8) return m;
  const int granularity = std::max(
      8, static_cast<int>(std::bit_ceil(static_cast<unsigned>(m))) / 8);
  return std::min(max_rows, (m + granularity - 1) / granularity * granularity);
}

int MatmulContext::cached_primitives() const {
  size_t n = 0;
  for (const std::unique_ptr<Shape>& s : shapes_) n += s->entries.size();
  return static_cast<int>(n);
}

absl::StatusOr<int32_t> MatmulContext::RegisterShape(int64_t k, int64_t n,
                                                     WeightsDtype dtype,
                                                     int max_rows,
                                                     absl::string_view name) {
  // The weight layout is chosen once per shape (oneDNN picks it for the
  // probe M) and then imposed on every per-M primitive.
  const int probe_m = std::min(max_rows, 32);
  int32_t id = -1;
  for (size_t i = 0; i < shapes_.size(); ++i) {
    const Shape& s = *shapes_[i];
    if (s.k == k && s.n == n && s.dtype == dtype && s.probe_m == probe_m) {
      id = static_cast<int32_t>(i);
      break;
    }
  }
  if (id < 0) {
    auto shape = std::make_unique<Shape>();
    shape->k = k;
    shape->n = n;
    shape->dtype = dtype;
    shape->probe_m = probe_m;
    try {
      const dt type = dtype == WeightsDtype::kBF16 ? dt::bf16 : dt::f32;
      dnnl::memory::desc src_md({probe_m, k}, type, tag::ab);
      dnnl::memory::desc any_w_md({k, n}, type, tag::any);
      dnnl::memory::desc dst_md({probe_m, n}, dt::f32, tag::ab);
      dnnl::matmul::primitive_desc probe(
          dnnl::matmul::desc(src_md, any_w_md, dst_md), engine_);
      shape->weights_md = probe.weights_desc();
      // Without AVX-512 oneDNN 2.6 picks a plain layout (`ab`, columns of
      // W contiguous); W's own rows (`ba`) are as fast for its gemm and are
      // what the decode GEMV streams (the rows layout, dense_gemv.h).
      if (!DescribeBlocked(shape->weights_md, nullptr).has_value() &&
          !GemvSupported(GemvIsa::kAvx512, GemvType(dtype))) {
        shape->weights_md = dnnl::memory::desc({k, n}, type, tag::ba);
      }
    } catch (const dnnl::error& e) {
      return FromDnnl(e, absl::StrCat(name, ": choosing the layout of ",
                                      WeightsDtypeName(dtype), " weights [", n,
                                      ", ", k, "]"));
    }
    id = static_cast<int32_t>(shapes_.size());
    shapes_.push_back(std::move(shape));
  }
  Shape& shape = *shapes_[id];
  if (max_rows > shape.max_rows) {
    shape.max_rows = max_rows;
    shape.capacity = std::min(options_.primitive_cache_size, max_rows);
    shape.entries.reserve(static_cast<size_t>(shape.capacity));
    shape.entry_of_m.resize(static_cast<size_t>(max_rows) + 1, -1);
  }
  // Load time: the padded copies fit the largest matmul of any shape.
  if (const int64_t e = int64_t{max_rows} * k; e > pad_src_elements_) {
    pad_src_.reset(new float[static_cast<size_t>(e)]);
    pad_src_elements_ = e;
  }
  if (const int64_t e = int64_t{max_rows} * n; e > pad_dst_elements_) {
    pad_dst_.reset(new float[static_cast<size_t>(e)]);
    pad_dst_elements_ = e;
  }
  return id;
}

absl::StatusOr<MatmulContext::Entry> MatmulContext::MakeEntry(
    const Shape& shape, int m, absl::string_view name) const {
  // oneDNN fixes a primitive's thread count when it is created (from the
  // calling thread's OpenMP setting), so a small matmul is made serial here.
  const int saved_threads = omp_get_max_threads();
  const bool serial =
      int64_t{m} * shape.k * shape.n < options_.min_parallel_macs;
  if (serial && saved_threads != 1) omp_set_num_threads(1);
  absl::Cleanup restore = [&] {
    if (omp_get_max_threads() != saved_threads) {
      omp_set_num_threads(saved_threads);
    }
  };
  try {
    const dt type = shape.dtype == WeightsDtype::kBF16 ? dt::bf16 : dt::f32;
    dnnl::memory::desc src_md({m, shape.k}, type, tag::ab);
    dnnl::memory::desc dst_md({m, shape.n}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(src_md, shape.weights_md, dst_md), engine_);
    Entry entry;
    entry.m = m;
    entry.impl = pd.impl_info_str();
    entry.primitive = dnnl::matmul(pd);
    entry.src = dnnl::memory(src_md, engine_, DNNL_MEMORY_NONE);
    entry.dst = dnnl::memory(dst_md, engine_, DNNL_MEMORY_NONE);
    return entry;
  } catch (const dnnl::error& e) {
    return FromDnnl(e,
                    absl::StrCat(name, ": matmul primitive for ", m, " rows"));
  }
}

absl::StatusOr<MatmulContext::Entry*> MatmulContext::GetEntry(
    int32_t id, int m, absl::string_view name) {
  Shape& shape = *shapes_[id];
  m = RowBucket(m, shape.max_rows);
  ++tick_;
  const int32_t index = shape.entry_of_m[m];
  if (index >= 0) {
    shape.entries[index].last_use = tick_;
    return &shape.entries[index];
  }
  ASSIGN_OR_RETURN(Entry entry, MakeEntry(shape, m, name));
  entry.last_use = tick_;
  size_t slot = shape.entries.size();
  if (shape.entries.size() < static_cast<size_t>(shape.capacity)) {
    shape.entries.push_back(std::move(entry));
  } else {
    slot = 0;
    for (size_t i = 1; i < shape.entries.size(); ++i) {
      if (shape.entries[i].last_use < shape.entries[slot].last_use) slot = i;
    }
    shape.entry_of_m[shape.entries[slot].m] = -1;
    shape.entries[slot] = std::move(entry);
  }
  shape.entry_of_m[m] = static_cast<int32_t>(slot);
  return &shape.entries[slot];
}

Linear::Linear(const Options& options, const MatmulContext* ctx,
               int64_t in_features, int64_t out_features)
    : options_(options),
      ctx_(ctx),
      in_features_(in_features),
      out_features_(out_features) {}

Linear::~Linear() = default;

bool Linear::IsSupported(WeightsDtype dtype) {
  if (dtype == WeightsDtype::kF32) return true;
  if (dtype == WeightsDtype::kF16) {
    return GemvSupported(GemvIsa::kAvx512, GemvWeights::kF16) ||
           RowsGemvSupported(GemvWeights::kF16);
  }
  return OneDnnHasBf16() || RowsGemvSupported(GemvWeights::kBF16);
}

int64_t Linear::weight_bytes() const {
  if (own_weights_ != nullptr) return own_elements_ * 2;
  return static_cast<int64_t>(weights_.get_desc().get_size());
}

absl::StatusOr<std::unique_ptr<Linear>> Linear::Create(
    const Options& options, MatmulContext* ctx,
    absl::Span<const WeightPart> parts, int64_t in_features) {
  const std::string& name = options.name;
  if (ctx == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": no matmul context"));
  }
  if (options.max_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": max_rows ", options.max_rows, " must be at least 1"));
  }
  if (in_features < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": in_features ", in_features, " must be at least 1"));
  }
  if (parts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": no weight rows given"));
  }
  int64_t out_features = 0;
  const bool f16 = options.weights_dtype == WeightsDtype::kF16;
  for (size_t i = 0; i < parts.size(); ++i) {
    if ((parts[i].data == nullptr && parts[i].f16 == nullptr) ||
        parts[i].rows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": weight part ", i, " is empty (", parts[i].rows, " rows)"));
    }
    if (parts[i].f16 != nullptr && (!f16 || parts[i].data != nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": weight part ", i,
          " gives f16 values, which only an f16 Linear takes (and then not "
          "f32 ones too)"));
    }
    out_features += parts[i].rows;
  }

  std::unique_ptr<Linear> linear(
      new Linear(options, ctx, in_features, out_features));
  // f16, and bf16 where oneDNN has no bf16 matmul: Kvasir's layout and
  // GEMV for every M.
  if (f16 ||
      (options.weights_dtype == WeightsDtype::kBF16 && !OneDnnHasBf16())) {
    RETURN_IF_ERROR(linear->LayOutOwnWeights(parts));
    if (!f16) ctx->ReserveBf16Scratch(int64_t{options.max_rows} * in_features);
    return linear;
  }
  ASSIGN_OR_RETURN(linear->shape_, ctx->RegisterShape(in_features, out_features,
                                                      options.weights_dtype,
                                                      options.max_rows, name));
  const dnnl::engine& eng = ctx->engine();
  try {
    const dnnl::memory::desc& md = ctx->shape(linear->shape_).weights_md;
    if (options.arena != nullptr) {
      ASSIGN_OR_RETURN(
          uint8_t * mem,
          options.arena->Allocate(static_cast<int64_t>(md.get_size()), name));
      linear->weights_ = dnnl::memory(md, eng, mem);
    } else {
      linear->weights_ = dnnl::memory(md, eng);
    }
    // W [n, k] row-major is the matmul's B [k, n] in `ba` order.
    const dnnl::memory::dim k = in_features, n = out_features;
    std::vector<float> stacked;
    const float* plain = Stack(parts, k, stacked);
    dnnl::memory user_w(dnnl::memory::desc({k, n}, dt::f32, tag::ba), eng,
                        const_cast<float*>(plain));
    dnnl::reorder(user_w, linear->weights_)
        .execute(ctx->stream(), user_w, linear->weights_);
    ctx->stream().wait();
  } catch (const dnnl::error& e) {
    return FromDnnl(
        e, absl::StrCat(name, ": laying out ",
                        WeightsDtypeName(options.weights_dtype), " weights [",
                        out_features, ", ", in_features, "]"));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name, ": out of memory laying out weights [", out_features,
                     ", ", in_features, "]"));
  }

  if (options.weights_dtype == WeightsDtype::kBF16) {
    ctx->ReserveBf16Scratch(int64_t{options.max_rows} * in_features);
  }
  if (options.decode_gemv) {
    const std::optional<BlockedWeights> w = DescribeBlocked(
        linear->weights_.get_desc(), linear->weights_.get_data_handle());
    const GemvWeights type = GemvType(options.weights_dtype);
    if (w.has_value() && w->rows) {
      if (RowsGemvSupported(type)) {
        linear->gemv_isa_ = GemvIsa::kAvx2;
        linear->gemv_ = w;
      }
    } else if (w.has_value()) {
      const GemvIsa isa =
          options.force_avx2_gemv ? GemvIsa::kAvx2 : GemvIsa::kAvx512;
      if (GemvSupported(isa, type)) {
        linear->gemv_isa_ = isa;
        linear->gemv_ = w;
      }
    }
  }
  // Create the decode primitive now (once per shape): it is the one every
  // step needs, and it names the kernel for logs.
  ASSIGN_OR_RETURN(MatmulContext::Entry * first,
                   ctx->GetEntry(linear->shape_, 1, name));
  linear->impl_name_ = first->impl;
  return linear;
}

const float* Linear::Stack(absl::Span<const WeightPart> parts, int64_t k,
                           std::vector<float>& stacked) {
  if (parts.size() == 1) return parts[0].data;
  int64_t n = 0;
  for (const WeightPart& part : parts) n += part.rows;
  stacked.resize(static_cast<size_t>(n * k));
  float* out = stacked.data();
  for (const WeightPart& part : parts) {
    std::copy(part.data, part.data + part.rows * k, out);
    out += part.rows * k;
  }
  return stacked.data();
}

absl::Status Linear::LayOutOwnWeights(absl::Span<const WeightPart> parts) {
  const std::string& name = options_.name;
  const GemvWeights type = GemvType(options_.weights_dtype);
  // f16 on AVX-512: the blocked layout; else (f16 forced to AVX2 or on an
  // AVX2 CPU, and bf16, which comes here only without oneDNN's AVX-512 bf16
  // matmul) W's rows.
  const bool blocked = type == GemvWeights::kF16 && !options_.force_avx2_gemv &&
                       GemvSupported(GemvIsa::kAvx512, type);
  if (!blocked && !RowsGemvSupported(type)) {
    return absl::UnimplementedError(
        absl::StrCat(name, ": ", WeightsDtypeName(options_.weights_dtype),
                     " weights need AVX2, FMA and F16C, which this CPU lacks"));
  }
  BlockedWeights w = blocked ? F16Blocking(in_features_, out_features_)
                             : RowsBlocking(type, in_features_, out_features_);
  const int64_t k = in_features_;
  try {
    // The parts as one array of 16-bit rows: a single f16 part as it is,
    // else stacked (f16 parts copied, f32 ones rounded).
    std::vector<uint16_t> stacked;
    const uint16_t* plain = parts.size() == 1 ? parts[0].f16 : nullptr;
    if (plain == nullptr) {
      stacked.resize(static_cast<size_t>(out_features_ * k));
      uint16_t* row = stacked.data();
      for (const WeightPart& part : parts) {
        if (part.f16 != nullptr) {
          std::copy(part.f16, part.f16 + part.rows * k, row);
        } else {
          for (int64_t r = 0; r < part.rows; ++r) {
            if (type == GemvWeights::kF16) {
              RowToF16(part.data + r * k, k, row + r * k);
            } else {
              FloatToBf16Row(part.data + r * k, k, row + r * k);
            }
          }
        }
        row += part.rows * k;
      }
      plain = stacked.data();
    }
    own_elements_ =
        blocked ? (w.n + w.nb - 1) / w.nb * w.n_stride : out_features_ * k;
    // (Not zeroed: LayOutF16 writes every element, padding included.)
    if (options_.arena != nullptr) {
      ASSIGN_OR_RETURN(uint8_t * mem, options_.arena->Allocate(
                                          own_elements_ * 2, options_.name));
      own_weights_ = reinterpret_cast<uint16_t*>(mem);
    } else {
      own_owned_.reset(new uint16_t[own_elements_]);
      own_weights_ = own_owned_.get();
    }
    if (blocked) {
      LayOutF16(w, plain, own_weights_);
    } else {
      std::copy_n(plain, own_elements_, own_weights_);
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name, ": out of memory laying out ",
                     WeightsDtypeName(options_.weights_dtype), " weights [",
                     out_features_, ", ", in_features_, "]"));
  }
  w.data = own_weights_;
  gemv_ = w;
  gemv_isa_ = blocked ? GemvIsa::kAvx512 : GemvIsa::kAvx2;
  impl_name_ =
      absl::StrCat("kvasir_gemv:", WeightsDtypeName(options_.weights_dtype),
                   ":", blocked ? "avx512" : "avx2");
  return absl::OkStatus();
}

absl::Status Linear::Forward(MatmulContext& ctx, const float* x, int m,
                             float* y) const {
  if (&ctx != ctx_) {
    return absl::InvalidArgumentError(absl::StrCat(
        options_.name, ": matmul with another context than its weights'"));
  }
  if (m < 1 || m > options_.max_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.name, ": ", m, " rows; the matmul takes 1 to ",
                     options_.max_rows));
  }
  if (gemv_.has_value() && m <= kMaxGemvRows) {
    PrepareGemv(ctx, x, m);
    BlockedGemv(
        gemv_isa_, *gemv_, x,
        gemv_->type == GemvWeights::kBF16 ? ctx.bf16_scratch() : nullptr, m, y,
        ctx.gemv_cursors(), ctx.gemv_cursor_count());
    return absl::OkStatus();
  }
  if (own_weights_ != nullptr) {
    // No oneDNN matmul for these weights: the GEMV, kMaxGemvRows rows at a
    // time (compute-bound there: each weight vector widened once per 6
    // rows of x, or 2 in the rows layout).
    PrepareGemv(ctx, x, m);
    const uint16_t* xb =
        gemv_->type == GemvWeights::kBF16 ? ctx.bf16_scratch() : nullptr;
    for (int r0 = 0; r0 < m; r0 += kMaxGemvRows) {
      BlockedGemv(gemv_isa_, *gemv_, x + r0 * in_features_,
                  xb == nullptr ? nullptr : xb + r0 * in_features_,
                  std::min(kMaxGemvRows, m - r0), y + r0 * out_features_,
                  ctx.gemv_cursors(), ctx.gemv_cursor_count());
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(MatmulContext::Entry * entry,
                   ctx.GetEntry(shape_, m, options_.name));
  // The primitive runs `rows` >= m rows; rows m.. are zeros in, dropped out.
  const int rows = entry->m;
  const int64_t k = in_features_;
  const size_t pad_in = static_cast<size_t>((rows - m) * k);
  try {
    if (options_.weights_dtype == WeightsDtype::kBF16) {
      uint16_t* xb = ctx.bf16_scratch();
      ParallelFor(0, m, int64_t{m} * k >= (int64_t{1} << 16),
                  [&](int64_t r) { FloatToBf16Row(x + r * k, k, xb + r * k); });
      std::fill_n(xb + m * k, pad_in, uint16_t{0});
      entry->src.set_data_handle(xb);
    } else if (rows != m) {
      float* padded = ctx.pad_src();
      std::copy_n(x, m * k, padded);
      std::fill_n(padded + m * k, pad_in, 0.0f);
      entry->src.set_data_handle(padded);
    } else {
      entry->src.set_data_handle(const_cast<float*>(x));
    }
    entry->dst.set_data_handle(rows != m ? ctx.pad_dst() : y);
    // The C API's argument list: the C++ execute() copies its argument map
    // into a fresh std::vector on every call. The weights are this Linear's.
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, entry->src.get()},
                                     {DNNL_ARG_WEIGHTS, weights_.get()},
                                     {DNNL_ARG_DST, entry->dst.get()}};
    dnnl::error::wrap_c_api(dnnl_primitive_execute(entry->primitive.get(),
                                                   ctx.stream().get(), 3, args),
                            "could not execute a matmul");
    ctx.stream().wait();
    if (rows != m) std::copy_n(ctx.pad_dst(), m * out_features_, y);
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat(options_.name, ": matmul of ", m, " rows"));
  }
  return absl::OkStatus();
}

void Linear::PrepareGemvRows(MatmulContext& ctx, const float* x, int row_begin,
                             int row_end) const {
  if (gemv_->type != GemvWeights::kBF16) return;
  uint16_t* scratch = ctx.bf16_scratch();
  for (int r = row_begin; r < row_end; ++r) {
    FloatToBf16Row(x + r * in_features_, in_features_,
                   scratch + r * in_features_);
  }
}

void Linear::ArmGemvSlice(MatmulContext& ctx, int thread, int threads) const {
  if (threads <= ctx.gemv_cursor_count()) {
    ArmGemvCursor(*gemv_, thread, threads, ctx.gemv_cursors());
  }
}

void Linear::GemvSlice(MatmulContext& ctx, const float* x, int m, float* y,
                       int thread, int threads) const {
  BlockedGemvSlice(
      gemv_isa_, *gemv_, x,
      gemv_->type == GemvWeights::kBF16 ? ctx.bf16_scratch() : nullptr, m, y,
      thread, threads,
      threads <= ctx.gemv_cursor_count() ? ctx.gemv_cursors() : nullptr);
}

}  // namespace ops
}  // namespace kvasir::engine
