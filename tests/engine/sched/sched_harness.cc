#include "tests/engine/sched/sched_harness.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace kvasir::engine::sched::testing {

kvcache::KvLayout HarnessLayout(int32_t block_size) {
  kvcache::KvLayout layout;
  layout.n_layers = 1;
  layout.n_kv_heads = 1;
  layout.head_dim = 4;
  layout.block_size = block_size;
  layout.dtype = kvcache::KvDtype::kF32;
  return layout;
}

TenantConfig BlocksTenant(std::string name, int64_t reserved_blocks,
                          int64_t limit_blocks, double weight,
                          int32_t block_size) {
  const int64_t block_bytes = HarnessLayout(block_size).BlockBytes();
  TenantConfig t;
  t.name = std::move(name);
  t.reserved_bytes = reserved_blocks * block_bytes;
  t.limit_bytes = limit_blocks * block_bytes;
  t.weight = weight;
  return t;
}

SchedHarness::SchedHarness(const Options& options,
                           std::vector<TenantConfig> tenants)
    : options_(options) {
  kvcache::KvCacheManager::Options kv_options;
  kv_options.layout = HarnessLayout(options.block_size);
  kv_options.capacity_bytes =
      int64_t{options.num_blocks} * kv_options.layout.BlockBytes();
  kv_options.prefix_caching = options.prefix_caching;
  auto kv = kvcache::KvCacheManager::Create(kv_options, ToKvBudgets(tenants));
  EXPECT_TRUE(kv.ok()) << kv.status();
  if (!kv.ok()) return;
  kv_ = *std::move(kv);
  admission_ = std::make_unique<AdmissionControl>(options.max_queued);
  Scheduler::Options so;
  so.max_batch_tokens = options.max_batch_tokens;
  so.max_running = options.max_running;
  so.clock = &clock_;
  auto sched =
      Scheduler::Create(so, kv_.get(), admission_.get(), std::move(tenants));
  EXPECT_TRUE(sched.ok()) << sched.status();
  if (sched.ok()) sched_ = *std::move(sched);
}

SchedHarness::~SchedHarness() {
  // Sequences hold KV handles: give them back before the manager goes.
  if (sched_ != nullptr) {
    for (auto& [name, e] : entries_) sched_->Finish(e.seq.get());
  }
  entries_.clear();
}

absl::Status SchedHarness::Submit(const std::string& name,
                                  const std::string& tenant, int32_t prompt_len,
                                  int32_t max_new_tokens, int32_t priority,
                                  absl::Time deadline,
                                  std::vector<int32_t> prompt) {
  auto seq = std::make_unique<Sequence>();
  seq->id = entries_.size() + 1;
  seq->tenant = tenant;
  seq->priority = priority;
  seq->deadline = deadline;
  if (prompt.empty()) {
    for (int32_t i = 0; i < prompt_len; ++i) {
      prompt.push_back(next_token_base_ + i);
    }
    next_token_base_ += 1000;
  }
  seq->prompt_len = static_cast<int32_t>(prompt.size());
  seq->tokens = std::move(prompt);
  seq->max_new_tokens = max_new_tokens;
  absl::Status s = admission_->TryEnqueue(tenant, seq->max_kv_tokens());
  if (!s.ok()) return s;
  s = sched_->Add(seq.get());
  if (!s.ok()) {
    admission_->Dequeued(tenant);
    return s;
  }
  Entry& e = entries_[name];
  e.name = name;
  e.seq = std::move(seq);
  return absl::OkStatus();
}

SchedHarness::Entry* SchedHarness::Find(const Sequence* s) {
  for (auto& [name, e] : entries_) {
    if (e.seq.get() == s) return &e;
  }
  return nullptr;
}

void SchedHarness::RecordFinished(Sequence* s, FinishReason reason,
                                  absl::Status error) {
  Entry* e = Find(s);
  if (e == nullptr) return;
  e->reason = reason;
  e->error = std::move(error);
}

std::string SchedHarness::Step() {
  const StepPlan& plan = sched_->Schedule();
  std::vector<std::string> parts;
  for (const ScheduledSeq& e : plan.scheduled) {
    parts.push_back(absl::StrCat(Find(e.seq)->name, "+", e.num_tokens));
  }
  sched_->Commit();
  for (const FinishedSeq& f : plan.finished) {
    RecordFinished(f.seq, f.reason, f.error);
  }
  for (const ScheduledSeq& e : plan.scheduled) {
    Sequence* s = e.seq;
    if (!e.compute_logits || s->status == SeqStatus::kFinished) continue;
    // A token that depends only on the position: recomputation after a
    // preemption yields the same sequence.
    s->AppendToken(500 + s->num_tokens());
    if (s->num_generated() >= s->max_new_tokens) {
      sched_->Finish(s);
      RecordFinished(s, FinishReason::kLength, absl::OkStatus());
    }
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

int SchedHarness::RunUntilIdle(int max_steps) {
  int steps = 0;
  while (!sched_->idle() && steps < max_steps) {
    Step();
    ++steps;
  }
  EXPECT_TRUE(sched_->idle()) << "still busy after " << steps << " steps";
  return steps;
}

void SchedHarness::Cancel(const std::string& name) {
  auto it = entries_.find(name);
  ASSERT_NE(it, entries_.end()) << name;
  sched_->Finish(it->second.seq.get());
  it->second.reason = FinishReason::kCancelled;
}

std::string SchedHarness::State() const {
  std::vector<std::string> parts;
  for (const auto& [name, e] : entries_) {
    const Sequence& s = *e.seq;
    std::string st;
    switch (s.status) {
      case SeqStatus::kWaiting:
        st = s.preemptions > 0 ? absl::StrCat("W(p", s.preemptions, ")") : "W";
        break;
      case SeqStatus::kPrefilling:
        st = absl::StrCat("P", s.num_computed());
        break;
      case SeqStatus::kDecoding:
        st = absl::StrCat("D", s.num_computed());
        break;
      case SeqStatus::kFinished:
        st = absl::StrCat("F-", FinishReasonName(e.reason));
        break;
    }
    parts.push_back(absl::StrCat(name, ":", st));
  }
  return absl::StrJoin(parts, " ");
}

void SchedHarness::ExpectAllBlocksFree() const {
  const kvcache::KvCacheStats s = kv_->Stats();
  EXPECT_EQ(s.free_blocks + s.cached_blocks, s.total_blocks);
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.live_sequences, 0);
  for (int32_t i = 0; i < sched_->num_tenants(); ++i) {
    const int32_t id = sched_->tenant(i).kv_id;
    EXPECT_EQ(kv_->GetTenant(id).used_blocks, 0) << kv_->TenantName(id);
  }
}

const Sequence& SchedHarness::seq(const std::string& name) const {
  return *entries_.at(name).seq;
}

FinishReason SchedHarness::reason(const std::string& name) const {
  return entries_.at(name).reason;
}

int64_t SchedHarness::served(const std::string& tenant) const {
  const int32_t t = sched_->FindTenant(tenant);
  return t < 0 ? 0 : sched_->tenant(t).stats.served_tokens;
}

int64_t SchedHarness::used_blocks(const std::string& tenant) const {
  const std::optional<int32_t> id = kv_->FindTenant(tenant);
  return id.has_value() ? kv_->GetTenant(*id).used_blocks : 0;
}

void RunTable(SchedHarness& h, const std::vector<Row>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].before) rows[i].before(h);
    EXPECT_EQ(h.Step(), rows[i].plan) << "plan of step " << i + 1;
    EXPECT_EQ(h.State(), rows[i].state) << "state after step " << i + 1;
  }
}

SchedHarness::Options Opts(int32_t num_blocks, int32_t max_batch_tokens,
                           int32_t max_running) {
  SchedHarness::Options o;
  o.num_blocks = num_blocks;
  o.max_batch_tokens = max_batch_tokens;
  o.max_running = max_running;
  return o;
}

}  // namespace kvasir::engine::sched::testing
