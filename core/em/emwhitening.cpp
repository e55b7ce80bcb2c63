// SPDX-License-Identifier: MIT
// The robust protocol's feature whitening (docs/em-quality.md, "Session 5").
//
// Cosine k-means and the prototypes' dot products see the features through
// their covariance: a few directions of large variance (brightness, scale of
// a texture) decide which positions look alike, and two classes that differ
// only along weak directions end up split along a strong one instead. A
// whitening transform z = s * (S + r * mean(eig S) * I)^(-1/2) * x, with S the
// covariance of unit-normalised feature positions, gives every direction the
// same weight; the ridge r keeps the directions of almost no variance (noise)
// from being blown up. The transform is linear, so a prototype w applied to z
// equals the prototype T^T w applied to x: the fit runs on z and hands out
// prototypes folded back onto the raw features, which every consumer (eval,
// exports, the studio) uses unchanged.
#include "em/emfit_p.h"
#include "em/emsampling_p.h"
#include "support/error.h"

#include <ATen/ATen.h>
#include <cmath>

namespace primaps::detail {

Whitening estimateWhitening(const EmDataSource& data, const std::vector<std::uint32_t>& images,
                            int maxPositions, float ridge, Rng& rng, const InitTick& sampled)
{
    if (images.empty())
        throw Error("the whitening has no images");
    if (!(ridge > 0))
        throw Error("the whitening ridge must be > 0");
    const at::Tensor x =
        sampleFeaturePositions(data, images, maxPositions, rng, sampled).to(at::kDouble);
    if (x.size(0) < 2)
        throw Error("the whitening needs at least two feature positions");
    const at::Tensor norms = x.norm(2, {1}, true);
    const at::Tensor unit = x / norms.clamp_min(1e-12);
    const at::Tensor centred = unit - unit.mean(0, true);
    const at::Tensor covariance = centred.t().mm(centred) / double(x.size(0) - 1);
    const auto [values, vectors] = at::linalg_eigh(covariance);
    const at::Tensor eig = values.clamp_min(0.0);
    const double floor = double(ridge) * eig.mean().item<double>();
    if (!(floor > 0))
        throw Error("the features have no variance to whiten");
    // The raw features' mean length sets the scale, so that T x of a typical
    // position is as long as the whitened unit vector: the logits keep the range
    // the M-step's learning rate is chosen for.
    const double scale = 1.0 / std::max(1e-12, norms.mean().item<double>());
    const at::Tensor transform =
        (vectors.mm(at::diag((eig + floor).rsqrt())).mm(vectors.t()) * scale)
            .to(at::kFloat)
            .contiguous();
    Whitening w;
    w.dim = int(x.size(1));
    w.ridge = ridge;
    w.matrix.assign(transform.data_ptr<float>(), transform.data_ptr<float>() + transform.numel());
    return w;
}

FeatureMap Whitening::apply(const FeatureMap& f) const
{
    if (f.channels != dim)
        throw Error("features have " + std::to_string(f.channels) +
                    " channels, the whitening " + std::to_string(dim));
    FeatureMap out(f.channels, f.height, f.width);
    const at::Tensor t = at::from_blob(const_cast<float*>(matrix.data()), {dim, dim}, at::kFloat);
    const at::Tensor x = at::from_blob(const_cast<float*>(f.values.data()),
                                       {dim, std::int64_t(f.positions())}, at::kFloat);
    at::Tensor z = at::from_blob(out.values.data(), {dim, std::int64_t(f.positions())}, at::kFloat);
    at::mm_out(z, t, x);
    return out;
}

Prototypes Whitening::foldIntoRawSpace(const Prototypes& p) const
{
    // g <v/|v|, T x> = g |T v/|v|| <u/|u|, x> with u = T v (T is symmetric).
    if (p.dim != dim)
        throw Error("prototypes of dimension " + std::to_string(p.dim) + ", the whitening " +
                    std::to_string(dim));
    Prototypes out = p;
    if (p.classes == 0)
        return out;
    const at::Tensor t = at::from_blob(const_cast<float*>(matrix.data()), {dim, dim}, at::kFloat);
    const at::Tensor v = at::from_blob(const_cast<float*>(p.direction.data()),
                                       {p.classes, dim}, at::kFloat);
    const at::Tensor unit = v / v.norm(2, {1}, true).clamp_min(1e-12);
    const at::Tensor u = unit.mm(t).contiguous(); // rows (T v_hat)^T
    const at::Tensor lengths = u.norm(2, {1}).contiguous();
    out.direction.assign(u.data_ptr<float>(), u.data_ptr<float>() + u.numel());
    for (int k = 0; k < p.classes; ++k)
        out.gain[std::size_t(k)] = p.gain[std::size_t(k)] * lengths.data_ptr<float>()[k];
    return out;
}

WhitenedSource::WhitenedSource(const EmDataSource& inner, Whitening whitening)
    : inner_(inner), whitening_(std::move(whitening))
{
}

std::size_t WhitenedSource::size() const
{
    return inner_.size();
}

FeatureMap WhitenedSource::features(std::size_t index) const
{
    return whitening_.apply(inner_.features(index));
}

cv::Mat WhitenedSource::masks(std::size_t index) const
{
    return inner_.masks(index);
}

bool WhitenedSource::hasStudentFeatures() const
{
    return inner_.hasStudentFeatures();
}

FeatureMap WhitenedSource::studentFeatures(std::size_t index, std::uint64_t view) const
{
    return whitening_.apply(inner_.studentFeatures(index, view));
}

} // namespace primaps::detail
