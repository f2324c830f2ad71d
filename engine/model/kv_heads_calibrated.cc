#include "engine/model/kv_heads_calibrated.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <complex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine {
namespace {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;
using RowMajorF =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// `w` [rows, D] (any type) with `bias` [rows] (or zeros when empty) as
// column D: the map from the calibration input [x; 1].
Mat Augmented(const Tensor& w, const Tensor& bias) {
  const Tensor converted = w.is_f32() ? Tensor() : w.ToF32();
  const Tensor& f = w.is_f32() ? w : converted;
  const int64_t rows = f.dim(0), d = f.dim(1);
  Mat m(rows, d + 1);
  m.leftCols(d) = Eigen::Map<const RowMajorF>(f.data(), rows, d).cast<double>();
  m.col(d).setZero();
  if (!bias.empty()) {
    m.col(d) =
        Eigen::Map<const Eigen::VectorXf>(bias.data(), rows).cast<double>();
  }
  return m;
}

Mat Dense(const Tensor& w) {
  const Tensor converted = w.is_f32() ? Tensor() : w.ToF32();
  const Tensor& f = w.is_f32() ? w : converted;
  return Eigen::Map<const RowMajorF>(f.data(), f.dim(0), f.dim(1))
      .cast<double>();
}

Tensor ToTensor(const Mat& m) {
  Tensor t = Tensor::Zeros({m.rows(), m.cols()});
  Eigen::Map<RowMajorF>(t.data(), m.rows(), m.cols()) = m.cast<float>();
  return t;
}

Tensor ToBias(const Vec& v) {
  Tensor t = Tensor::Zeros({v.size()});
  Eigen::Map<Eigen::VectorXf>(t.data(), v.size()) = v.cast<float>();
  return t;
}

// The symmetric PSD square root of a symmetric matrix (negative
// eigenvalues, from rounding, count as zero).
Mat SqrtPsd(const Mat& a) {
  Eigen::SelfAdjointEigenSolver<Mat> es(a);
  const Vec root = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * root.asDiagonal() * es.eigenvectors().transpose();
}

// One layer's converted projections, kept apart until every layer has
// succeeded so an error leaves the model unchanged.
struct LayerResult {
  Mat wq, wk, wv, wo;  // wq/wk/wv augmented with their bias column
};

struct Geometry {
  int h = 0, hkv = 0, n = 0, hd = 0, d = 0;
  bool neox = false;
  int group() const { return h / hkv; }   // query heads per old KV head
  int merged() const { return hkv / n; }  // old heads per new head
  // The rows of rotary pair p within a head.
  std::pair<int, int> Pair(int p) const {
    return neox ? std::pair{p, p + hd / 2} : std::pair{2 * p, 2 * p + 1};
  }
};

// V of new head j: principal subspace of the group's output-weighted
// values; wo slices absorb each old head's least-squares map.
void MergeValues(const Geometry& g, const Mat& sigma, int j, const Mat& wv,
                 Mat& new_wv, Mat& wo) {
  const int hd = g.hd, r = g.merged(), rh = r * hd;
  const Mat stacked = wv.middleRows(int64_t{j} * rh, rh);
  Mat s = Mat::Zero(rh, rh);
  for (int t = 0; t < r; ++t) {
    const int i = j * r + t;
    Mat omega = Mat::Zero(hd, hd);
    for (int q = i * g.group(); q < (i + 1) * g.group(); ++q) {
      const Mat slice = wo.middleCols(int64_t{q} * hd, hd);
      omega += slice.transpose() * slice;
    }
    s.block(t * hd, t * hd, hd, hd) = SqrtPsd(omega);
  }
  const Mat cz = stacked * sigma * stacked.transpose();
  Eigen::SelfAdjointEigenSolver<Mat> es(s * cz * s);
  // Eigenvalues ascend: the last hd vectors span the principal subspace.
  const Mat basis = es.eigenvectors().rightCols(hd);
  const Mat p = basis.transpose() * s * stacked;  // [hd, D + 1]
  new_wv.middleRows(int64_t{j} * hd, hd) = p;
  // M = E[z v^T] E[v v^T]^-1: each old head's values from the merged ones.
  Mat cv = p * sigma * p.transpose();
  cv.diagonal().array() += 1e-9 * std::max(1e-30, cv.trace() / hd);
  const Mat czv = stacked * sigma * p.transpose();
  const Mat m = cv.ldlt().solve(czv.transpose()).transpose();  // [rh, hd]
  for (int t = 0; t < r; ++t) {
    const int i = j * r + t;
    for (int q = i * g.group(); q < (i + 1) * g.group(); ++q) {
      const Mat slice = wo.middleCols(int64_t{q} * hd, hd);
      wo.middleCols(int64_t{q} * hd, hd) = slice * m.middleRows(t * hd, hd);
    }
  }
}

// K of new head j, pair by pair: the dominant complex component of the
// query-weighted keys; query pair rows absorb conj(c_i).
void MergeKeys(const Geometry& g, const Mat& sigma, int j, const Mat& wk,
               Mat& new_wk, Mat& wq) {
  using Complex = std::complex<double>;
  const int hd = g.hd, r = g.merged();
  const int64_t w = wk.cols();
  for (int p = 0; p < hd / 2; ++p) {
    const auto [ra, rb] = g.Pair(p);
    // Real and imaginary rows of each old head's pair, and its weight.
    Mat a(r, w), b(r, w);
    Vec weight(r);
    for (int t = 0; t < r; ++t) {
      const int i = j * r + t;
      a.row(t) = wk.row(int64_t{i} * hd + ra);
      b.row(t) = wk.row(int64_t{i} * hd + rb);
      double q2 = 0;
      for (int q = i * g.group(); q < (i + 1) * g.group(); ++q) {
        const auto qa = wq.row(int64_t{q} * hd + ra);
        const auto qb = wq.row(int64_t{q} * hd + rb);
        q2 += qa.dot(sigma * qa.transpose()) + qb.dot(sigma * qb.transpose());
      }
      weight(t) = std::sqrt(std::max(q2, 0.0));
    }
    if (weight.maxCoeff() <= 0) weight.setOnes();  // no query reads it
    // E[k_t conj(k_u)] = a_t S a_u + b_t S b_u + i (b_t S a_u - a_t S b_u).
    const Mat sa = sigma * a.transpose(), sb = sigma * b.transpose();
    const Mat re = a * sa + b * sb, im = b * sa - a * sb;
    Eigen::MatrixXcd cov(r, r);
    for (int t = 0; t < r; ++t) {
      for (int u = 0; u < r; ++u) {
        cov(t, u) = weight(t) * weight(u) * Complex(re(t, u), im(t, u));
      }
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(cov);
    const Eigen::VectorXcd top = es.eigenvectors().col(r - 1);
    // k = sum_t conj(top_t) w_t k_t, as real rows.
    Vec na = Vec::Zero(w), nb = Vec::Zero(w);
    for (int t = 0; t < r; ++t) {
      const double ur = top(t).real(), ui = top(t).imag();
      na += weight(t) * (ur * a.row(t) + ui * b.row(t)).transpose();
      nb += weight(t) * (ur * b.row(t) - ui * a.row(t)).transpose();
    }
    new_wk.row(int64_t{j} * hd + ra) = na.transpose();
    new_wk.row(int64_t{j} * hd + rb) = nb.transpose();
    const double power = na.dot(sigma * na) + nb.dot(sigma * nb);
    for (int t = 0; t < r; ++t) {
      const int i = j * r + t;
      // c = E[k_t conj(k)] / E|k|^2, the least-squares factor.
      Complex c(0, 0);
      if (power > 0) {
        c = Complex(a.row(t).dot(sigma * na) + b.row(t).dot(sigma * nb),
                    b.row(t).dot(sigma * na) - a.row(t).dot(sigma * nb)) /
            power;
      }
      for (int q = i * g.group(); q < (i + 1) * g.group(); ++q) {
        const Vec qa = wq.row(int64_t{q} * hd + ra).transpose();
        const Vec qb = wq.row(int64_t{q} * hd + rb).transpose();
        // q' = q conj(c), so Re(q' conj(k)) = Re(q conj(c k)).
        wq.row(int64_t{q} * hd + ra) = (c.real() * qa + c.imag() * qb);
        wq.row(int64_t{q} * hd + rb) = (c.real() * qb - c.imag() * qa);
      }
    }
  }
}

absl::Status CheckShapes(const Model& model, const CalibrationStats& stats) {
  const ModelConfig& c = model.config;
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_heads_conversion calibrated: head_dim ", c.head_dim,
                     " is odd (RoPE pairs need an even head_dim)"));
  }
  for (size_t l = 0; l < model.weights.layers.size(); ++l) {
    const LayerWeights& lw = model.weights.layers[l];
    if (!lw.q_norm.empty() || !lw.k_norm.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_heads_conversion calibrated: layers.", l,
          " normalizes each q/k head (Qwen3), which merged heads cannot "
          "reproduce; use kv_heads_conversion mean"));
    }
  }
  if (stats.dim != c.dim ||
      stats.moment.size() != model.weights.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_heads_conversion calibrated: calibration statistics of dim ",
        stats.dim, " and ", stats.moment.size(),
        " layers do not fit the model's ", c.dim, " and ",
        model.weights.layers.size()));
  }
  const int64_t qrows = int64_t{c.n_heads} * c.head_dim;
  const int64_t w = int64_t{c.dim} + 1;
  for (size_t l = 0; l < model.weights.layers.size(); ++l) {
    const LayerWeights& lw = model.weights.layers[l];
    if (lw.wq.rank() != 2 || lw.wq.dim(0) != qrows || lw.wq.dim(1) != c.dim ||
        lw.wk.dim(1) != c.dim || lw.wv.dim(1) != c.dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_heads_conversion calibrated: layers.", l, ".wq/wk/wv have ",
          lw.wq.ShapeString(), ", ", lw.wk.ShapeString(), ", ",
          lw.wv.ShapeString(), "; expected inputs of dim ", c.dim));
    }
    if (lw.wo.rank() != 2 || lw.wo.dim(0) != c.dim || lw.wo.dim(1) != qrows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_heads_conversion calibrated: layers.", l, ".wo has shape ",
          lw.wo.ShapeString(), ", expected [", c.dim, ", ", qrows, "]"));
    }
    if (stats.moment[l].size() != static_cast<size_t>(w * w)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_heads_conversion calibrated: calibration statistics of layer ", l,
          " have ", stats.moment[l].size(), " values, expected ", w * w));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ConvertKvHeadsCalibrated(Model& model, int n_kv_heads,
                                      const CalibrationStats& stats) {
  RETURN_IF_ERROR(ValidateKvHeadsConversion(model, n_kv_heads));
  ModelConfig& c = model.config;
  if (n_kv_heads >= c.n_kv_heads) return ConvertKvHeads(model, n_kv_heads);
  RETURN_IF_ERROR(CheckShapes(model, stats));
  Geometry g;
  g.h = c.n_heads;
  g.hkv = c.n_kv_heads;
  g.n = n_kv_heads;
  g.hd = c.head_dim;
  g.d = c.dim;
  g.neox = c.rope_neox;
  const int64_t w = int64_t{c.dim} + 1;
  std::vector<LayerResult> results(model.weights.layers.size());
  for (size_t l = 0; l < results.size(); ++l) {
    const LayerWeights& lw = model.weights.layers[l];
    const Mat sigma = Eigen::Map<const Mat>(stats.moment[l].data(), w, w);
    LayerResult& out = results[l];
    out.wq = Augmented(lw.wq, lw.bq);
    out.wo = Dense(lw.wo);
    const Mat wk = Augmented(lw.wk, lw.bk);
    const Mat wv = Augmented(lw.wv, lw.bv);
    out.wk = Mat::Zero(int64_t{g.n} * g.hd, w);
    out.wv = Mat::Zero(int64_t{g.n} * g.hd, w);
    for (int j = 0; j < g.n; ++j) {
      MergeValues(g, sigma, j, wv, out.wv, out.wo);
      MergeKeys(g, sigma, j, wk, out.wk, out.wq);
    }
    if (!out.wq.allFinite() || !out.wk.allFinite() || !out.wv.allFinite() ||
        !out.wo.allFinite()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_heads_conversion calibrated: layers.", l,
          " did not convert to finite weights (calibration statistics of ",
          stats.tokens, " tokens)"));
    }
  }
  for (size_t l = 0; l < results.size(); ++l) {
    LayerWeights& lw = model.weights.layers[l];
    LayerResult& out = results[l];
    const int64_t d = c.dim;
    lw.wq = ToTensor(out.wq.leftCols(d));
    lw.wk = ToTensor(out.wk.leftCols(d));
    lw.wv = ToTensor(out.wv.leftCols(d));
    lw.wo = ToTensor(out.wo);
    if (!lw.bq.empty()) lw.bq = ToBias(out.wq.col(d));
    if (!lw.bk.empty()) lw.bk = ToBias(out.wk.col(d));
    if (!lw.bv.empty()) lw.bv = ToBias(out.wv.col(d));
  }
  c.n_kv_heads = n_kv_heads;
  return absl::OkStatus();
}

absl::Status ConvertKvHeadsWith(Model& model, int n_kv_heads,
                                KvConversion method,
                                const CalibrationOptions& calibration) {
  RETURN_IF_ERROR(ValidateKvHeadsConversion(model, n_kv_heads));
  if (method == KvConversion::kMean || n_kv_heads >= model.config.n_kv_heads) {
    return ConvertKvHeads(model, n_kv_heads);
  }
  ASSIGN_OR_RETURN(const std::vector<std::vector<int32_t>> tokens,
                   CalibrationTokens(model, calibration));
  ASSIGN_OR_RETURN(
      const CalibrationStats stats,
      CollectCalibrationStats(model, tokens, calibration.num_threads));
  return ConvertKvHeadsCalibrated(model, n_kv_heads, stats);
}

}  // namespace kvasir::engine
