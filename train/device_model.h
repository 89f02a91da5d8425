// `device: cuda` for a one-process mesh: the training step runs on the GPU (runtime/nn/cuda:
// fp32 master weights, bf16 or fp32 GEMMs, AdamW on the device), and the host model and its
// optim::AdamW become the device's copy for checkpoints, evaluation and the final model.
//
// Contract with ParallelModel: Create uploads the host's parameters and optimizer state (so a
// restored or fine-tuned host model is what trains); after Step the host copy is stale until
// SyncHost, which the trainer calls for the values before it evaluates or writes the final
// model, and for values and moments before a checkpoint save. What is already current is not
// copied again.
// Built without CUDA, Create fails with FailedPrecondition and Built() is false.
//
// Tests can install a factory (SetFactoryForTesting) that stands in for the CUDA model, so the
// trainer's device path runs in CI on machines without a GPU (tests/support/host_twin_device.h:
// a second host model plays the device).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/nn/model.h"
#include "runtime/optim/adamw.h"
#include "train/batch.h"

namespace mt::train {

struct StepResult {
  double loss = 0;
  optim::StepStats stats;
};

class DeviceModel {
 public:
  // Whether this build has the CUDA model.
  static bool Built();
  // FailedPrecondition naming the reason when no CUDA device can be used (or not Built()).
  static absl::Status CheckDevice();
  // `host` and `opt` (whose settings the device's AdamW takes) must outlive the DeviceModel.
  // Micro-batches of up to `max_batch` sequences of the model's seq_len; `bf16`: bf16 GEMMs.
  static absl::StatusOr<std::unique_ptr<DeviceModel>> Create(nn::Model& host, optim::AdamW& opt,
                                                             bool bf16, int64_t max_batch);
  virtual ~DeviceModel() = default;

  // Tests: Create calls `factory` instead of making the CUDA model, and Built and CheckDevice
  // succeed, until it is reset with nullptr. Not thread-safe: set it before training starts.
  using Factory = std::function<absl::StatusOr<std::unique_ptr<DeviceModel>>(
      nn::Model& host, optim::AdamW& opt, bool bf16, int64_t max_batch)>;
  static void SetFactoryForTesting(Factory factory);

  // One optimizer step over the micro-batches (each weighted 1/count): forward and backward,
  // the global gradient norm, clipping and AdamW, as ParallelModel's host step does for one
  // process. A non-finite loss or gradient changes nothing and reports finite = false.
  virtual absl::StatusOr<StepResult> Step(const std::vector<Batch>& micro, double lr) = 0;
  // Makes the host model's values (and, with `optimizer`, the moments) the device's. The
  // optimizer's step is always current (Step counts on it).
  virtual absl::Status SyncHost(bool optimizer) = 0;
};

}  // namespace mt::train
