// TagStore over SQLite (tag_store.h): tags of replication groups (`tags`), cache clusters
// (`cluster_tags`) and cache parameter groups (`parameter_group_tags`).
#include "orchestrator/tags/tag_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

struct TagTable {
  const char* table;
  const char* id_col;
  const char* exists_sql;  // one row when the resource exists
};

TagTable TableOf(TagResource kind) {
  switch (kind) {
    case TagResource::kReplicationGroup:
      return {"tags", "group_id", "SELECT 1 FROM replication_groups WHERE group_id=?"};
    case TagResource::kCacheCluster:
      // A member of a replication group, or a standalone cache cluster (RetainPrimaryCluster),
      // which has no tags of its own (cluster_tags follow the node rows).
      return {"cluster_tags", "node_id",
              "SELECT 1 FROM nodes WHERE node_id=?1 UNION ALL "
              "SELECT 1 FROM standalone_clusters WHERE cluster_id=?1"};
    case TagResource::kParameterGroup:
    default:
      return {"parameter_group_tags", "group_name",
              "SELECT 1 FROM cache_parameter_groups WHERE name=?"};
  }
}

Result<bool> Exists(SqliteDb& db, const TagTable& t, const std::string& id) {
  auto s = db.Prepare(t.exists_sql);
  if (!s) return s.error();
  s->Bind(1, id);
  return s->Step();
}

Result<std::vector<Tag>> ReadTags(SqliteDb& db, const TagTable& t, const std::string& id) {
  auto s = db.Prepare(std::string("SELECT key, value FROM ") + t.table + " WHERE " + t.id_col +
                      "=? ORDER BY position");
  if (!s) return s.error();
  s->Bind(1, id);
  std::vector<Tag> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(Tag{s->Text(0), s->Text(1)});
  }
  return out;
}

// A cache cluster shows its replication group's tags (ElastiCache propagates group tags to
// the member clusters) followed by its own; its own value wins for a key both have.
Result<std::vector<Tag>> MergeGroupTags(SqliteDb& db, const std::string& node_id,
                                        std::vector<Tag> own) {
  auto s = db.Prepare(
      "SELECT t.key, t.value FROM tags t JOIN nodes n ON n.group_id=t.group_id "
      "WHERE n.node_id=? ORDER BY t.position");
  if (!s) return s.error();
  s->Bind(1, node_id);
  std::vector<Tag> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    Tag t{s->Text(0), s->Text(1)};
    if (std::none_of(own.begin(), own.end(), [&](const Tag& o) { return o.key == t.key; }))
      out.push_back(std::move(t));
  }
  for (auto& t : own) out.push_back(std::move(t));
  return out;
}

class SqliteTagStore final : public TagStore {
 public:
  explicit SqliteTagStore(SqliteDb& db) : db_(db) {}

  Result<std::optional<std::vector<Tag>>> GetTags(TagResource kind, const std::string& id,
                                                  bool builtin) override;
  Result<std::optional<std::vector<Tag>>> ChangeTags(TagResource kind, const std::string& id,
                                                     bool builtin, const std::vector<Tag>& add,
                                                     const std::vector<std::string>& remove,
                                                     int max_tags) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Result<std::optional<std::vector<Tag>>> SqliteTagStore::GetTags(TagResource kind,
                                                                const std::string& id,
                                                                bool builtin) {
  std::lock_guard lk(db_.mu());
  const TagTable t = TableOf(kind);
  if (!builtin) {
    auto e = Exists(db_, t, id);
    if (!e) return e.error();
    if (!*e) return std::optional<std::vector<Tag>>{};
  }
  auto tags = ReadTags(db_, t, id);
  if (!tags) return tags.error();
  if (kind == TagResource::kCacheCluster) {
    auto merged = MergeGroupTags(db_, id, std::move(*tags));
    if (!merged) return merged.error();
    return std::optional<std::vector<Tag>>(std::move(*merged));
  }
  return std::optional<std::vector<Tag>>(std::move(*tags));
}

Result<std::optional<std::vector<Tag>>> SqliteTagStore::ChangeTags(
    TagResource kind, const std::string& id, bool builtin, const std::vector<Tag>& add,
    const std::vector<std::string>& remove, int max_tags) {
  std::lock_guard lk(db_.mu());
  const TagTable t = TableOf(kind);
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  if (!builtin) {
    auto e = Exists(db_, t, id);
    if (!e) return e.error();
    if (!*e) return std::optional<std::vector<Tag>>{};
  }
  if (kind == TagResource::kCacheCluster && !add.empty()) {
    auto s = db_.Prepare("SELECT 1 FROM standalone_clusters WHERE cluster_id=?");
    if (!s) return s.error();
    s->Bind(1, id);
    auto standalone = s->Step();
    if (!standalone) return standalone.error();
    if (*standalone)
      return MakeError(Errc::kInvalidArgument, "Tags on the standalone cache cluster " + id +
                                                   " are not supported by cachefleet yet.");
  }
  auto cur = ReadTags(db_, t, id);
  if (!cur) return cur.error();
  std::vector<Tag> tags = std::move(*cur);
  for (const auto& a : add) {
    bool found = false;
    for (auto& x : tags)
      if (x.key == a.key) {
        x.value = a.value;
        found = true;
      }
    if (!found) tags.push_back(a);
  }
  for (const auto& k : remove) {
    auto it = std::find_if(tags.begin(), tags.end(), [&](const Tag& x) { return x.key == k; });
    if (it == tags.end())
      return MakeError(Errc::kNotFound,
                       "The tag key " + k + " does not exist on the resource" +
                           (kind == TagResource::kCacheCluster
                                ? " (tags of its replication group are removed there)."
                                : "."));
    tags.erase(it);
  }
  std::vector<Tag> shown = tags;
  if (kind == TagResource::kCacheCluster) {
    auto merged = MergeGroupTags(db_, id, tags);
    if (!merged) return merged.error();
    shown = std::move(*merged);
  }
  if (static_cast<int>(shown.size()) > max_tags)
    return MakeError(Errc::kResourceExhausted,
                     "The resource would have " + std::to_string(shown.size()) + " tags; at most " +
                         std::to_string(max_tags) + " are allowed.");
  {
    auto d = db_.Prepare(std::string("DELETE FROM ") + t.table + " WHERE " + t.id_col + "=?");
    if (!d) return d.error();
    d->Bind(1, id);
    if (auto st = d->Run(); !st) return st.error();
  }
  int64_t pos = 0;
  for (const auto& x : tags) {
    auto s = db_.Prepare(std::string("INSERT INTO ") + t.table + "(" + t.id_col +
                         ", position, key, value) VALUES(?,?,?,?)");
    if (!s) return s.error();
    s->Bind(1, id).Bind(2, pos++).Bind(3, x.key).Bind(4, x.value);
    if (auto st = s->Run(); !st) return st.error();
  }
  if (auto st = txn.Commit(); !st) return st.error();
  return std::optional<std::vector<Tag>>(std::move(shown));
}

TagStore& TagStoreOf(Store& base) {
  return base.Feature<TagStore>([](SqliteDb& db) -> std::unique_ptr<TagStore> {
    return std::make_unique<SqliteTagStore>(db);
  });
}

}  // namespace cf::orchestrator
