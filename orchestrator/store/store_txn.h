// Transactional helpers shared by store/ and the features' *_store.cc files: each runs inside
// a transaction the caller opened, with the SqliteDb's mutex held (the "Locked" suffix).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

class SqliteDb;

// Inserts op and returns its id (kFailedPrecondition when the group already has an unfinished
// operation: the one-active-operation index).
Result<int64_t> InsertOp(SqliteDb& db, const OperationRecord& op);
// The fleet as placement sees it: hosts, their allocated or still-blocked ports, node counts.
Result<FleetSnapshot> ReadFleetLocked(SqliteDb& db);
// Inserts a node of group_id and allocates its port (an expired block on the same port is
// replaced by the allocation).
Status InsertNodeLocked(SqliteDb& db, const std::string& group_id, const NodeRecord& n);

// The group with its node groups, nodes and pending modifications (kNotFound).
Result<GroupView> LoadGroupLocked(SqliteDb& db, const std::string& group_id);
// The same, nullopt when the group does not exist.
Result<std::optional<GroupView>> FindGroupLocked(SqliteDb& db, const std::string& group_id);
// The group, if it is `available` with no unfinished operation (else FAILED_PRECONDITION
// saying which): the check of every in-request change made in one transaction.
Result<GroupView> LoadIdleAvailableGroupLocked(SqliteDb& db, const std::string& group_id);
// Moves op to `to` (CheckTransition) with the compare-and-set on (attempt, state) that
// Store::TransitionOperation documents; updates op in place.
Status TransitionLocked(SqliteDb& db, OperationRecord& op, OpState to, const std::string& step,
                        int64_t now);
Status AddEventLocked(SqliteDb& db, const std::string& source_id, const std::string& source_type,
                      const std::string& message, int64_t date_ms);
// Applies a FailoverChange to the group (its events first; see FailoverChange).
Status ApplyFailoverChangeLocked(SqliteDb& db, const std::string& group_id, const FailoverChange& c,
                                 int64_t now);
// The group's pending modifications: parameter name -> value.
Status LoadPendingLocked(SqliteDb& db, const std::string& group_id,
                         std::map<std::string, std::string>& out);
// A user-created cache parameter group with its values (nullopt: no such group).
Result<std::optional<UserParameterGroup>> LoadParameterGroupLocked(SqliteDb& db,
                                                                   const std::string& name);

}  // namespace cf::orchestrator
