#pragma once

// The demo tenant for ./scripts/dev.sh: the catalogue, an org of 51 people in
// 5 departments, and a few hundred events over the last 90 days stepped to
// realistic states. Deterministic (fixed seed); does nothing when the tenant
// already has events.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "services/event/event_store.h"

namespace perfflow::event {

// Seeds `tenant` with `events` events ending at `now`.
absl::Status SeedDemoTenant(std::shared_ptr<EventStore> store, const std::string& tenant,
                            const std::string& catalogue_dir, absl::Time now, int events);

}  // namespace perfflow::event
