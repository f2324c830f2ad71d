#include "engine/ops/linear.h"

#include <omp.h>

#include <algorithm>
#include <new>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/ops/bf16.h"

namespace kvasir::engine {

absl::string_view WeightsDtypeName(WeightsDtype dtype) {
  return dtype == WeightsDtype::kF32 ? "f32" : "bf16";
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

}  // namespace

absl::StatusOr<std::unique_ptr<MatmulContext>> MatmulContext::Create() {
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    return std::unique_ptr<MatmulContext>(
        new MatmulContext(std::move(engine), std::move(stream)));
  } catch (const dnnl::error& e) {
    return FromDnnl(e, "creating the oneDNN CPU engine");
  }
}

void MatmulContext::ReserveBf16Scratch(int64_t elements) {
  if (static_cast<int64_t>(bf16_scratch_.size()) < elements) {
    bf16_scratch_.resize(static_cast<size_t>(elements));
  }
}

Linear::Linear(const Options& options, MatmulContext* ctx, int64_t in_features,
               int64_t out_features)
    : options_(options),
      ctx_(ctx),
      in_features_(in_features),
      out_features_(out_features),
      compute_type_(options.weights_dtype == WeightsDtype::kBF16 ? dt::bf16
                                                                 : dt::f32) {}

Linear::~Linear() = default;

bool Linear::IsSupported(WeightsDtype dtype) {
  if (dtype == WeightsDtype::kF32) return true;
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

int64_t Linear::weight_bytes() const {
  return static_cast<int64_t>(weights_md_.get_size());
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
  if (options.primitive_cache_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": primitive_cache_size ",
                     options.primitive_cache_size, " must be at least 1"));
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
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].data == nullptr || parts[i].rows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": weight part ", i, " is empty (", parts[i].rows, " rows)"));
    }
    out_features += parts[i].rows;
  }

  std::unique_ptr<Linear> linear(
      new Linear(options, ctx, in_features, out_features));
  const dnnl::engine& eng = ctx->engine();
  try {
    // The weight layout is chosen once (oneDNN picks it for the probe M)
    // and then imposed on every per-M primitive.
    const dnnl::memory::dim k = in_features, n = out_features;
    const dnnl::memory::dim probe_m = std::min(options.max_rows, 32);
    dnnl::memory::desc src_md({probe_m, k}, linear->compute_type_, tag::ab);
    dnnl::memory::desc any_w_md({k, n}, linear->compute_type_, tag::any);
    dnnl::memory::desc dst_md({probe_m, n}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc probe(
        dnnl::matmul::desc(src_md, any_w_md, dst_md), eng);
    linear->weights_md_ = probe.weights_desc();
    linear->weights_ = dnnl::memory(linear->weights_md_, eng);

    // W [n, k] row-major is the matmul's B [k, n] in `ba` order.
    std::vector<float> stacked;
    const float* plain = parts[0].data;
    if (parts.size() > 1) {
      stacked.resize(static_cast<size_t>(n * k));
      float* out = stacked.data();
      for (const WeightPart& part : parts) {
        std::copy(part.data, part.data + part.rows * k, out);
        out += part.rows * k;
      }
      plain = stacked.data();
    }
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
  linear->entries_.reserve(static_cast<size_t>(
      std::min(options.primitive_cache_size, options.max_rows)));
  linear->entry_of_m_.assign(static_cast<size_t>(options.max_rows) + 1, -1);
  // Create the decode primitive now: it is the one every step needs, and
  // it names the kernel for logs.
  ASSIGN_OR_RETURN(Entry * first, linear->GetEntry(1));
  linear->impl_name_ = first->impl;
  return linear;
}

absl::StatusOr<Linear::Entry> Linear::MakeEntry(int m) const {
  // oneDNN fixes a primitive's thread count when it is created (from the
  // calling thread's OpenMP setting), so a small matmul is made serial here.
  const int saved_threads = omp_get_max_threads();
  const bool serial =
      int64_t{m} * in_features_ * out_features_ < options_.min_parallel_macs;
  if (serial && saved_threads != 1) omp_set_num_threads(1);
  absl::Cleanup restore = [&] {
    if (omp_get_max_threads() != saved_threads) {
      omp_set_num_threads(saved_threads);
    }
  };
  try {
    const dnnl::engine& eng = ctx_->engine();
    dnnl::memory::desc src_md({m, in_features_}, compute_type_, tag::ab);
    dnnl::memory::desc dst_md({m, out_features_}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(src_md, weights_md_, dst_md), eng);
    Entry entry;
    entry.m = m;
    entry.impl = pd.impl_info_str();
    entry.primitive = dnnl::matmul(pd);
    entry.src = dnnl::memory(src_md, eng, DNNL_MEMORY_NONE);
    entry.dst = dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE);
    entry.args[0] = {DNNL_ARG_SRC, entry.src.get()};
    entry.args[1] = {DNNL_ARG_WEIGHTS, weights_.get()};
    entry.args[2] = {DNNL_ARG_DST, entry.dst.get()};
    return entry;
  } catch (const dnnl::error& e) {
    return FromDnnl(
        e, absl::StrCat(options_.name, ": matmul primitive for ", m, " rows"));
  }
}

absl::StatusOr<Linear::Entry*> Linear::GetEntry(int m) {
  ++tick_;
  const int32_t index = entry_of_m_[m];
  if (index >= 0) {
    entries_[index].last_use = tick_;
    return &entries_[index];
  }
  ASSIGN_OR_RETURN(Entry entry, MakeEntry(m));
  entry.last_use = tick_;
  size_t slot = entries_.size();
  if (entries_.size() < entries_.capacity()) {
    entries_.push_back(std::move(entry));
  } else {
    slot = 0;
    for (size_t i = 1; i < entries_.size(); ++i) {
      if (entries_[i].last_use < entries_[slot].last_use) slot = i;
    }
    entry_of_m_[entries_[slot].m] = -1;
    entries_[slot] = std::move(entry);
  }
  entry_of_m_[m] = static_cast<int32_t>(slot);
  return &entries_[slot];
}

absl::Status Linear::Forward(const float* x, int m, float* y) {
  if (m < 1 || m > options_.max_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.name, ": ", m, " rows; the matmul takes 1 to ",
                     options_.max_rows));
  }
  ASSIGN_OR_RETURN(Entry * entry, GetEntry(m));
  try {
    if (compute_type_ == dt::bf16) {
      uint16_t* xb = ctx_->bf16_scratch();
      const int64_t k = in_features_;
#pragma omp parallel for if (int64_t{m} * k >= (int64_t{1} << 16))
      for (int r = 0; r < m; ++r) FloatToBf16Row(x + r * k, k, xb + r * k);
      entry->src.set_data_handle(xb);
    } else {
      entry->src.set_data_handle(const_cast<float*>(x));
    }
    entry->dst.set_data_handle(y);
    dnnl::error::wrap_c_api(
        dnnl_primitive_execute(entry->primitive.get(), ctx_->stream().get(), 3,
                               entry->args),
        "could not execute a matmul");
    ctx_->stream().wait();
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat(options_.name, ": matmul of ", m, " rows"));
  }
  return absl::OkStatus();
}

}  // namespace ops
}  // namespace kvasir::engine
