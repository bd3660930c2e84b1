// TagStore: Tags by resource (AddTagsToResource, RemoveTagsFromResource, ListTagsForResource).
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, tag_store.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

enum class TagResource { kReplicationGroup, kCacheCluster, kParameterGroup };

class TagStore {
 public:
  virtual ~TagStore() = default;

  // ---- tags by resource (tags_store.cc) ----
  // nullopt = the resource does not exist (a parameter group that `builtin` says exists is
  // taken as existing). Replication groups use the `tags` table, cache clusters and
  // parameter groups their own (v4).
  virtual Result<std::optional<std::vector<Tag>>> GetTags(TagResource kind, const std::string& id,
                                                          bool builtin = false) = 0;
  // One transaction: adds/overwrites `add`, then removes `remove`. kNotFound when a key to
  // remove is absent (nothing changes), kResourceExhausted when the result exceeds max_tags.
  // nullopt = resource not found. Returns the resulting tags.
  virtual Result<std::optional<std::vector<Tag>>> ChangeTags(TagResource kind,
                                                             const std::string& id, bool builtin,
                                                             const std::vector<Tag>& add,
                                                             const std::vector<std::string>& remove,
                                                             int max_tags) = 0;
};

// The TagStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
TagStore& TagStoreOf(Store& base);

}  // namespace cf::orchestrator
