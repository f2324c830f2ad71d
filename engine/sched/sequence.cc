#include "engine/sched/sequence.h"

namespace kvasir::engine::sched {

absl::string_view SeqStatusName(SeqStatus status) {
  switch (status) {
    case SeqStatus::kWaiting:
      return "waiting";
    case SeqStatus::kPrefilling:
      return "prefilling";
    case SeqStatus::kDecoding:
      return "decoding";
    case SeqStatus::kFinished:
      return "finished";
  }
  return "?";
}

}  // namespace kvasir::engine::sched
