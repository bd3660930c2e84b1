// ModifyReplicationGroup's "settings" parameter set (registered on ModifyGroupFrontend with
// AddParameterSet from modify_feature.h): the parameters that are validated, stored and returned without
// touching the nodes — ReplicationGroupDescription (<= 255), SnapshottingClusterId (cluster mode
// disabled only; a member of the group, else CacheClusterNotFound 404), SnapshotRetentionLimit
// (as Create: 0 only; > 0 not supported yet, negative invalid), SnapshotWindow (hh24:mi-hh24:mi),
// PreferredMaintenanceWindow (ddd:hh24:mi-ddd:hh24:mi, >= 60 min), NotificationTopicArn
// (arn:...), NotificationTopicStatus (active|inactive; validated, not stored: the
// ReplicationGroup shape has no NotificationConfiguration), SecurityGroupIds,
// AutoMinorVersionUpgrade. They take effect at once whatever ApplyImmediately says (nothing on
// the nodes changes), in one store transaction with an event; the group must be `available`
// with no operation running (InvalidReplicationGroupState).
#pragma once

#include "orchestrator/modify/modify_group_frontend.h"

namespace cf::orchestrator {

void AddSettingsParameterSet(ModifyGroupFrontend& frontend, Store& store,
                             const OrchestratorConfig& config);

}  // namespace cf::orchestrator
