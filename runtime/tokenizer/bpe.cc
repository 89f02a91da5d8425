// Byte-pair merging (see bpe.h).
#include "runtime/tokenizer/bpe.h"

#include <limits>

#include "fmt/format.h"

namespace mt::tok {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// One part of the piece being merged: where it starts, its id, and the rank and id of merging
// it with the next part (kNone: they do not merge).
struct Part {
  uint32_t start;
  int32_t id;
  uint32_t rank;
  int32_t merged;
};

// The rank and id of merging parts[i] and parts[i + 1] (parts.back() is the end sentinel).
void Rate(const BpeModel& m, std::string_view piece, std::vector<Part>& parts, size_t i) {
  Part& p = parts[i];
  p.rank = kNone;
  if (i + 2 >= parts.size()) return;  // the last real part: nothing to its right
  if (m.rule == MergeRule::kRankOfBytes) {
    auto it = m.ids.find(AsAbsl(piece.substr(p.start, parts[i + 2].start - p.start)));
    if (it != m.ids.end()) p.rank = static_cast<uint32_t>(it->second), p.merged = it->second;
    return;
  }
  auto it = m.merges.find(BpeModel::PairKey(p.id, parts[i + 1].id));
  if (it != m.merges.end()) {
    p.rank = static_cast<uint32_t>(it->second >> 32);
    p.merged = static_cast<int32_t>(it->second & 0xFFFFFFFFu);
  }
}

}  // namespace

absl::Status BpeModel::IndexBytes() {
  for (int b = 0; b < 256; ++b) {
    auto it = ids.find(std::string(1, static_cast<char>(b)));
    if (it == ids.end()) {
      return absl::FailedPreconditionError(
          fmt::format("the vocabulary has no token for byte 0x{:02X}: not a byte-level BPE", b));
    }
    byte_ids[b] = it->second;
  }
  return absl::OkStatus();
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_ids[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (whole_piece_first) {
    if (auto it = ids.find(AsAbsl(piece)); it != ids.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // O(n^2) in the piece's length, as tiktoken's: pieces are words, and the rescan of a short
  // vector beats a heap for them.
  thread_local std::vector<Part> parts;
  parts.clear();
  for (size_t i = 0; i < piece.size(); ++i) {
    parts.push_back(
        {static_cast<uint32_t>(i), byte_ids[static_cast<unsigned char>(piece[i])], kNone, 0});
  }
  parts.push_back({static_cast<uint32_t>(piece.size()), -1, kNone, 0});  // end sentinel
  for (size_t i = 0; i + 1 < parts.size(); ++i) Rate(*this, piece, parts, i);
  while (true) {
    size_t best = parts.size();
    uint32_t best_rank = kNone;
    for (size_t i = 0; i + 2 < parts.size(); ++i) {
      if (parts[i].rank < best_rank) best_rank = parts[i].rank, best = i;
    }
    if (best == parts.size()) break;
    parts[best].id = parts[best].merged;
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    if (best > 0) Rate(*this, piece, parts, best - 1);
    Rate(*this, piece, parts, best);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) out.push_back(parts[i].id);
}

}  // namespace mt::tok
