// EventQueryStore over SQLite (event_query_store.h).
#include "orchestrator/events/event_query_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

class SqliteEventQueryStore final : public EventQueryStore {
 public:
  explicit SqliteEventQueryStore(SqliteDb& db) : db_(db) {}

  Result<std::vector<EventRecord>> QueryEvents(const EventQuery& q,
                                               int64_t prune_before_ms) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Result<std::vector<EventRecord>> SqliteEventQueryStore::QueryEvents(const EventQuery& q,
                                                                    int64_t prune_before_ms) {
  std::lock_guard lk(db_.mu());
  {
    auto del = db_.Prepare("DELETE FROM events WHERE date_ms < ?");
    if (!del) return del.error();
    del->Bind(1, prune_before_ms);
    if (auto st = del->Run(); !st) return st.error();
  }
  std::string sql =
      "SELECT event_id, source_id, source_type, message, date_ms FROM events "
      "WHERE date_ms >= ? AND date_ms <= ? AND (?='' OR source_id=?) AND (?='' OR source_type=?)";
  if (q.before) sql += " AND (date_ms < ? OR (date_ms = ? AND event_id < ?))";
  sql += " ORDER BY date_ms DESC, event_id DESC LIMIT ?";
  auto s = db_.Prepare(sql);
  if (!s) return s.error();
  s->Bind(1, q.start_ms);
  s->Bind(2, q.end_ms);
  s->Bind(3, q.source_id);
  s->Bind(4, q.source_id);
  s->Bind(5, q.source_type);
  s->Bind(6, q.source_type);
  int i = 7;
  if (q.before) {
    s->Bind(i++, q.before->first);
    s->Bind(i++, q.before->first);
    s->Bind(i++, q.before->second);
  }
  s->Bind(i, static_cast<int64_t>(q.limit));
  std::vector<EventRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(EventRecord{s->Int(0), s->Text(1), s->Text(2), s->Text(3), s->Int(4)});
  }
  return out;
}

EventQueryStore& EventQueryStoreOf(Store& base) {
  return base.Feature<EventQueryStore>([](SqliteDb& db) -> std::unique_ptr<EventQueryStore> {
    return std::make_unique<SqliteEventQueryStore>(db);
  });
}

}  // namespace cf::orchestrator
