#ifndef KVASIR_ENGINE_SCHED_FAIR_SHARE_H_
#define KVASIR_ENGINE_SCHED_FAIR_SHARE_H_

#include <cstdint>
#include <vector>

namespace kvasir::engine::sched {

// Weighted fair share of served tokens between tenants (WFQ / start-time
// fair queuing over tokens): each tenant has a virtual token counter that
// grows by tokens / weight as it is served; under contention the tenant
// with the smallest counter goes next, so served tokens converge to the
// ratio of the weights.
//
// A tenant is active while it has waiting or running requests. One that
// becomes active starts at the current virtual time (the smallest counter
// among active tenants, never decreasing), so idle time is not banked: a
// tenant that was away does not come back with credit to starve the others.
//
// Tenants are small dense indices. Not thread-safe.
class FairShare {
 public:
  // Adds a tenant with index size(). weight > 0.
  int32_t AddTenant(double weight);
  int32_t size() const { return static_cast<int32_t>(tenants_.size()); }
  void SetWeight(int32_t t, double weight) { tenants_[t].weight = weight; }

  // No-ops when the tenant is already in that state.
  void Activate(int32_t t);
  void Deactivate(int32_t t);

  // Tenant t was served `tokens` (computed by the model): its counter grows
  // by tokens / weight.
  void Charge(int32_t t, int64_t tokens);
  // Takes back a charge for tokens that were not served after all (a
  // sequence preempted after it was scheduled in the same step).
  void Refund(int32_t t, int64_t tokens);

  double counter(int32_t t) const { return tenants_[t].counter; }

 private:
  struct Tenant {
    double weight = 1.0;
    double counter = 0.0;
    bool active = false;
  };
  void Advance();

  std::vector<Tenant> tenants_;
  // The smallest counter among active tenants, as a non-decreasing clock.
  double virtual_time_ = 0.0;
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_FAIR_SHARE_H_
