// The encode pipeline's two device passes (encode_pipeline.cpp plans them and retries on
// misfit): the text encoder over every micro-batch, block by block, folding each hidden state
// into the feature extractor; then the connectors over the features. Engine thread.
#include "worker/engine/encode/encode_pipeline.hpp"

#include "worker/engine/runtime/block_pass.hpp"

namespace ff::engine::encode {
namespace {

// A small host tensor to the device; on CUDA through pinned memory, without blocking the host
// (a pageable copy would wait for the compute stream).
at::Tensor upload(const at::Tensor& t, at::Device dev) {
  return dev.is_cuda() ? t.pin_memory().to(dev, /*non_blocking=*/true) : t.to(dev);
}

}  // namespace

// Device state of one micro-batch through the text pass.
struct EncodePipeline::Batch {
  at::Tensor hidden;               // [B, W, hidden]
  at::Tensor acc_video, acc_audio; // [B, W, dim] fp32
  at::Tensor real_full;            // [B, max_length] bool
  std::unique_ptr<WindowContext> ctx;
};

std::vector<std::pair<at::Tensor, at::Tensor>> EncodePipeline::run_text(
    const std::vector<std::vector<int32_t>>& prompts, std::vector<MicroBatch>& mbs, int max_length) {
  const at::Device dev = be_.device();
  rt::ScopedCharge working(be_.meter(), text_pass_bytes(dims_, mbs));
  // Started first: the first blocks' copies overlap the host-side preparation below.
  rt::BlockPass pass(*w_.text, opts_.slots);
  std::vector<Batch> batches;
  for (const MicroBatch& mb : mbs) {
    const int64_t b = static_cast<int64_t>(mb.prompts.size());
    at::Tensor ids = at::full({b, mb.window}, ops_->pad_token_id(), at::kLong);
    at::Tensor real_w = at::zeros({b, mb.window}, at::kBool);
    at::Tensor real_f = at::zeros({b, max_length}, at::kBool);
    for (int64_t r = 0; r < b; ++r) {
      const auto& p = prompts[mb.prompts[r]];
      const int64_t n = static_cast<int64_t>(p.size());
      auto row = ids[r];
      auto acc = row.accessor<int64_t, 1>();
      for (int64_t t = 0; t < n; ++t) acc[mb.window - n + t] = p[t];
      real_w[r].narrow(0, mb.window - n, n).fill_(true);
      real_f[r].narrow(0, max_length - n, n).fill_(true);
    }
    Batch bt;
    bt.hidden = ops_->embed(w_.embed_table, ids, dev);
    bt.real_full = upload(real_f, dev);
    bt.ctx = ops_->window_context(upload(real_w, dev), mb.first_position(), dev);
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
    bt.acc_video = at::zeros({b, mb.window, dims_.video_dim}, f32);
    bt.acc_audio = at::zeros({b, mb.window, dims_.audio_dim}, f32);
    ops_->fold(text_fixed_dev_, 0, bt.hidden, *bt.ctx, bt.acc_video, bt.acc_audio);
    batches.push_back(std::move(bt));
  }
  const int n = ops_->num_layers();
  for (int i = 0; i < n; ++i) {
    const rt::BlockTensors& w = pass.acquire(i);
    for (Batch& bt : batches) {
      bt.hidden = ops_->layer(w, i, bt.hidden, *bt.ctx);
      at::Tensor state = i == n - 1 ? ops_->final_norm(text_fixed_dev_, bt.hidden) : bt.hidden;
      ops_->fold(w, i + 1, state, *bt.ctx, bt.acc_video, bt.acc_audio);
    }
    pass.release(i);
  }
  std::vector<std::pair<at::Tensor, at::Tensor>> feats;
  for (Batch& bt : batches) {
    bt.hidden.reset();
    feats.push_back(ops_->features(text_fixed_dev_, bt.acc_video, bt.acc_audio, bt.real_full));
    bt.acc_video.reset();
    bt.acc_audio.reset();
  }
  last_.text_pass = pass.finish();
  return feats;
}

void EncodePipeline::run_connectors(std::vector<std::pair<at::Tensor, at::Tensor>>& feats,
                                    const std::vector<MicroBatch>& mbs, const Deliver& deliver) {
  rt::ScopedCharge working(be_.meter(), connector_pass_bytes(dims_, mbs));
  const at::Device dev = be_.device();
  const int nv = ops_->num_connector_blocks(0), na = ops_->num_connector_blocks(1);
  const size_t nb = feats.size();
  std::vector<at::Tensor> real(nb);
  for (size_t b = 0; b < nb; ++b) {
    const MicroBatch& mb = mbs[b];
    at::Tensor rf = at::zeros({static_cast<int64_t>(mb.prompts.size()), mb.max_length}, at::kBool);
    for (size_t r = 0; r < mb.prompts.size(); ++r)
      rf[r].narrow(0, mb.max_length - mb.real_tokens[r], mb.real_tokens[r]).fill_(true);
    real[b] = upload(rf, dev);
  }
  auto begin = [&](int m, size_t b) {
    at::Tensor& f = m == 0 ? feats[b].first : feats[b].second;
    at::Tensor x = ops_->connector_begin(connector_fixed_dev_, m, f, real[b]);
    f.reset();
    return x;
  };
  auto end = [&](int m, size_t b, const at::Tensor& x) { deliver(m, b, ops_->connector_end(connector_fixed_dev_, m, x)); };
  std::vector<at::Tensor> x(nb);
  rt::BlockPass pass(*w_.connectors, opts_.slots);
  for (int j = 0; j < nv + na; ++j) {
    const int m = j < nv ? 0 : 1;
    const int jj = m == 0 ? j : j - nv;
    const int last = (m == 0 ? nv : na) - 1;
    const rt::BlockTensors& w = pass.acquire(j);
    for (size_t b = 0; b < nb; ++b) {
      if (jj == 0) x[b] = begin(m, b);
      x[b] = ops_->connector_block(w, m, jj, x[b], real[b]);
      if (jj == last) {
        end(m, b, x[b]);
        x[b].reset();
      }
    }
    pass.release(j);
  }
  for (int m = 0; m < 2; ++m)
    if ((m == 0 ? nv : na) == 0)
      for (size_t b = 0; b < nb; ++b) end(m, b, begin(m, b));
  last_.processor_pass = pass.finish();
}

}  // namespace ff::engine::encode
