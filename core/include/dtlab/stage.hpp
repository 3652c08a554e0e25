// A pipeline stage: the layers [first, last) of dtlab's MLP, for pipeline parallelism (Lab 03).
// Each rank of a pipeline holds one stage, only its layers' parameters and gradients, and passes
// activations forward and gradients backward to its neighbours. Composed in order, the stages
// compute exactly what the whole Mlp computes, bit for bit, because they run the same code.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dtlab/aligned.hpp"
#include "dtlab/mlp.hpp"

namespace dtlab {

class MlpStage {
 public:
  // Layers [first, last) of the MLP config describes. Throws dtlab::Error unless
  // 0 <= first < last <= the number of layers.
  MlpStage(MlpConfig config, int first, int last);

  const MlpConfig& config() const { return config_; }
  int first() const { return first_; }
  int last() const { return last_; }
  // Whether the stage ends with the model's last layer, whose logits the loss reads.
  bool has_loss() const { return last_ == model_layers_; }
  int inputs() const { return layers_.front().in; }
  int outputs() const { return layers_.back().out; }

  // The stage's own flat buffers: layers()[i] is model layer first() + i, with offsets into them.
  std::size_t num_params() const { return params_.size() - lead_; }
  std::span<float> params() { return std::span<float>(params_).subspan(lead_); }
  std::span<const float> params() const { return std::span<const float>(params_).subspan(lead_); }
  std::span<float> grads() { return std::span<float>(grads_).subspan(lead_); }
  std::span<const float> grads() const { return std::span<const float>(grads_).subspan(lead_); }
  const std::vector<LayerSlice>& layers() const { return layers_; }

  // Exactly the values Mlp::init(seed) gives these layers, so a pipeline starts as the whole
  // model does without any rank sending parameters.
  void init(std::uint64_t seed);

  void set_layer_ops(const LayerOps& ops) { ops_ = ops; }

  // Forward of micro-batch `micro` (any id not in flight): x is batch x inputs(), the previous
  // stage's output or the data. Returns batch x outputs(): after the ReLU, or the logits on the
  // last stage. The stage keeps a copy of x and every layer's output until backward(micro) or
  // release(micro), since a schedule (GPipe, 1F1B) runs several forwards before their backwards.
  // The returned span stays valid until then.
  std::span<const float> forward(int micro, std::span<const float> x);

  // The last stage's loss on micro's logits: the mean cross-entropy over the micro-batch, and
  // dlogits = scale * d(mean)/d(logits), to pass to backward(micro). With m equal micro-batches
  // and scale = 1/m, the gradients add up to those of the mean loss over the whole batch.
  // dlogits stays valid until backward(micro) or release(micro).
  struct Loss {
    float value = 0;
    std::span<const float> dlogits;
  };
  Loss loss(int micro, std::span<const std::int32_t> labels, float scale = 1.0f);

  // Backward of micro-batch `micro`, given dy = dL/d(output) (batch x outputs()). Adds the
  // parameters' gradients to grads() (gradient accumulation across micro-batches) and returns
  // dL/d(input), batch x inputs(), for the previous stage; empty on the first stage, whose input
  // is the data. The result stays valid until the next backward. Releases micro's activations.
  std::span<const float> backward(int micro, std::span<const float> dy);

  // Drops micro's activations without a backward (a forward-only pass, such as evaluation).
  void release(int micro);
  // Micro-batches forwarded and not yet released: the activations the stage holds.
  int in_flight() const { return int(in_flight_.size()); }

  // Starts a new accumulation: the next backward writes the gradients, later ones add to them.
  void zero_grads();

 private:
  // What backward needs of one micro-batch.
  struct Activations {
    int batch = 0;
    AlignedVector<float> input;
    std::vector<AlignedVector<float>> outputs;  // one per layer of the stage
    AlignedVector<float> dlogits;
  };
  Activations& find(int micro, const char* what);
  std::string name() const;

  MlpConfig config_;
  int first_ = 0;
  int last_ = 0;
  int model_layers_ = 0;
  LayerOps ops_;
  std::vector<LayerSlice> layers_;
  // params() and grads() start lead_ floats into these buffers, so that every layer's tensors sit
  // at the same address modulo 64 bytes as in the whole Mlp: a BLAS (OpenBLAS's Haswell kernels)
  // may sum a product's terms in an order that depends on its operands' alignment, and a stage
  // must give the whole model's bits.
  std::size_t lead_ = 0;
  AlignedVector<float> params_;
  AlignedVector<float> grads_;
  // The first backward after zero_grads() overwrites rather than adding to zeros, as
  // Mlp::forward_backward does without accumulate, so that even the signs of zeros agree.
  bool overwrite_ = true;
  std::map<int, Activations> in_flight_;
  std::vector<Activations> spare_;  // released, reused: a steady schedule allocates nothing
  AlignedVector<float> delta_a_, delta_b_, saved_;
};

}  // namespace dtlab
