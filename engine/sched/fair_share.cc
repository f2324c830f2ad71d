#include "engine/sched/fair_share.h"

#include <algorithm>
#include <limits>

namespace kvasir::engine::sched {

int32_t FairShare::AddTenant(double weight) {
  Tenant t;
  t.weight = weight;
  // A new tenant starts where the others are, like a returning one.
  t.counter = virtual_time_;
  tenants_.push_back(t);
  return size() - 1;
}

void FairShare::Activate(int32_t t) {
  Tenant& tenant = tenants_[t];
  if (tenant.active) return;
  tenant.counter = std::max(tenant.counter, virtual_time_);
  tenant.active = true;
}

void FairShare::Deactivate(int32_t t) {
  if (!tenants_[t].active) return;
  tenants_[t].active = false;
  Advance();
}

void FairShare::Charge(int32_t t, int64_t tokens) {
  if (tokens <= 0) return;
  Tenant& tenant = tenants_[t];
  tenant.counter += static_cast<double>(tokens) / tenant.weight;
  Advance();
}

void FairShare::Refund(int32_t t, int64_t tokens) {
  if (tokens <= 0) return;
  Tenant& tenant = tenants_[t];
  tenant.counter -= static_cast<double>(tokens) / tenant.weight;
  // virtual_time_ stays: it never goes back.
}

void FairShare::Advance() {
  double min_active = std::numeric_limits<double>::infinity();
  for (const Tenant& t : tenants_) {
    if (t.active) min_active = std::min(min_active, t.counter);
  }
  if (min_active != std::numeric_limits<double>::infinity()) {
    virtual_time_ = std::max(virtual_time_, min_active);
  }
}

}  // namespace kvasir::engine::sched
