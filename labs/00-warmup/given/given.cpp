// The parts of Lab 00 that are given to students (not to implement).
#include "lab00/warmup.hpp"

namespace lab00 {

dtlab::LayerOps layer_ops() {
  dtlab::LayerOps ops;
  ops.linear_backward = &lab00::linear_backward;
  ops.relu_backward = &lab00::relu_backward;
  ops.softmax_cross_entropy = &lab00::softmax_cross_entropy;
  return ops;
}

}  // namespace lab00
