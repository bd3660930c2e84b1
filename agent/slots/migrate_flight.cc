#include "agent/slots/migrate_flight.h"

namespace cf::agent {
namespace {

constexpr std::string_view kTargetReplied = "Target instance replied with error: ";

}  // namespace

void FlightRunner::Covered(const MigrateCommand& c, bool moved, std::vector<MoveWork>& window,
                           std::map<uint32_t, uint64_t>* covered) {
  (*covered)[c.slot] += c.keys.size();
  if (!moved) return;
  s_.prog.keys_moved += c.keys.size();
  s_.prog.bytes_moved += c.bytes;
  for (auto& w : window) {
    if (w.slot == c.slot) w.touched = true;
  }
}

Cmd FlightRunner::MigrateArgv(const MigrateCommand& c, uint32_t timeout_ms) const {
  Cmd a = {"MIGRATE", s_.spec.target.ip, std::to_string(s_.spec.target.port), "", "0",
           std::to_string(timeout_ms)};
  if (c.replace) a.push_back("REPLACE");
  if (!s_.spec.auth_password.empty()) {
    a.push_back("AUTH");
    a.push_back(s_.spec.auth_password);
  }
  a.push_back("KEYS");
  a.insert(a.end(), c.keys.begin(), c.keys.end());
  return a;
}

// Is the target still there and a master? kFailedPrecondition when it is a replica now;
// OK when it answers as a master or does not answer (the caller keeps retrying).
Status FlightRunner::CheckTarget() {
  Status s = s_.target->Ready();
  if (!s.ok()) return s.error().code == Errc::kFailedPrecondition ? s : Status{};
  auto r = s_.target->conn.Command({"ROLE"});
  if (!r.ok()) return {};
  std::string role = r->at(0).str();
  if (role != "master") {
    return MakeError(Errc::kFailedPrecondition,
                     "the target " + s_.target->conn.where() + " is a " + role +
                         " now (failover?); re-plan the move");
  }
  return {};
}

// BUSYKEY: compares the command's keys on both sides. True when keys present on both sides
// exist and all have the same value (resend with REPLACE); false when none is on both sides
// any more (resend as is); kFailedPrecondition naming the keys when a value differs or the
// target's copy cannot be read.
Result<bool> FlightRunner::ResolveBusyKeys(const MigrateCommand& c) {
  Cmds sc, tc;
  for (const auto& k : c.keys) {
    sc.push_back({"DUMP", k});
    sc.push_back({"PTTL", k});
    tc.push_back({"ASKING"});
    tc.push_back({"DUMP", k});
    tc.push_back({"ASKING"});
    tc.push_back({"PTTL", k});
  }
  auto sr = s_.Pipe(*s_.source, sc, "DUMP (source)");
  if (!sr.ok()) return sr.error();
  auto tr = s_.Pipe(*s_.target, tc, "DUMP (target)");
  if (!tr.ok()) return tr.error();
  std::vector<std::string> differ;
  size_t same = 0;
  std::string ttl_note;
  for (size_t i = 0; i < c.keys.size(); ++i) {
    const auto& sd = (*sr)[2 * i];
    const auto& td = (*tr)[4 * i + 1];
    // Gone from the source (nil, or ASK once a key is missing): MIGRATE skips it.
    if (!sd.ok() || sd->is_nil()) continue;
    if (!td.ok()) {  // cannot see the target's copy: never overwrite what we did not compare
      differ.push_back(c.keys[i] + " (target: " + td.error().message + ")");
      continue;
    }
    if (td->is_nil()) continue;  // not on the target: not a busy one
    bool equal = sd->str() == td->str();
    if (!equal) equal = DigestsEqual(c.keys[i]);
    if (!equal) {
      differ.push_back(c.keys[i]);
      continue;
    }
    ++same;
    const auto& st = (*sr)[2 * i + 1];
    const auto& tt = (*tr)[4 * i + 3];
    if (st.ok() && tt.ok() && ttl_note.empty() &&
        (st->integer() < 0) != (tt->integer() < 0)) {
      ttl_note = "; TTL differs for " + Printable(c.keys[i]) + " (source " +
                 std::to_string(st->integer()) + " ms, target " + std::to_string(tt->integer()) +
                 " ms): the source's TTL is kept";
    }
  }
  if (!differ.empty()) {
    std::string names;
    for (size_t i = 0; i < differ.size() && i < 10; ++i) {
      names += (i ? ", " : "") + Printable(differ[i]);
    }
    if (differ.size() > 10) names += ", ... (" + std::to_string(differ.size()) + " keys)";
    return MakeError(Errc::kFailedPrecondition,
                     "BUSYKEY in slot " + std::to_string(c.slot) + ": the target already holds " +
                         std::to_string(differ.size()) + " key(s) with a value different from "
                         "the source's: " + names + ". Not overwritten; the slot stays open. "
                         "Decide which copy is right, delete the other, then retry the move");
  }
  if (same == 0) {
    s_.prog.last_error = "BUSYKEY in slot " + std::to_string(c.slot) +
                      ": no key is on both sides any more; resending";
    return false;
  }
  s_.prog.last_error = "BUSYKEY in slot " + std::to_string(c.slot) + ": " + std::to_string(same) +
                    " key(s) already on the target with identical values; resending with "
                    "REPLACE" + ttl_note;
  return true;
}

// DEBUG DIGEST-VALUE on both sides (order-independent for hashes and sets, unlike DUMP).
// False when DEBUG is not allowed or the digests differ.
bool FlightRunner::DigestsEqual(const std::string& key) {
  auto s = s_.Pipe(*s_.source, {{"DEBUG", "DIGEST-VALUE", key}}, "DEBUG DIGEST-VALUE (source)");
  auto t = s_.Pipe(*s_.target, {{"ASKING"}, {"DEBUG", "DIGEST-VALUE", key}}, "DEBUG DIGEST-VALUE (target)");
  if (!s.ok() || !t.ok() || !(*s)[0].ok() || !(*t)[1].ok()) return false;
  return (*s)[0]->at(0).str() == (*t)[1]->at(0).str() && !(*s)[0]->at(0).str().empty();
}

// Runs one flight (pipelined MIGRATEs). Marks slots touched, counts keys and bytes.
// `covered` (slot -> keys) counts the keys of commands that returned OK or NOKEY.
Status FlightRunner::Run(Flight& f, std::vector<MoveWork>& window,
                         std::map<uint32_t, uint64_t>* covered) {
  std::vector<bool> done(f.commands.size(), false);
  uint32_t timeout = f.oversized ? s_.big_key_timeout_ms : s_.migrate_timeout_ms;
  for (uint32_t attempt = 0;; ++attempt) {
    std::vector<size_t> idx;
    Cmds cmds;
    for (size_t i = 0; i < f.commands.size(); ++i) {
      if (done[i]) continue;
      idx.push_back(i);
      cmds.push_back(MigrateArgv(f.commands[i], timeout));
    }
    if (idx.empty()) return {};
    if (attempt > 2 * s_.spec.max_retries + 2) {  // BUSYKEY resends included: never unbounded
      return MakeError(Errc::kUnavailable,
                       "MIGRATE of slot " + std::to_string(f.commands[idx[0]].slot) +
                           " keeps failing after " + std::to_string(attempt) +
                           " attempts: " + s_.prog.last_error + " (slot left open)");
    }

    std::string retry_reason;
    bool backoff = true;
    Status ready = s_.source->Ready();
    if (!ready.ok()) {
      if (ready.error().code == Errc::kFailedPrecondition) return ready;
      retry_reason = ready.error().message;
    } else {
      s_.source->conn.SetCommandTimeout(s_.spec.migrate_reply_timeout_ms);
      auto tm = Clock::now();
      auto r = s_.source->conn.Pipeline(cmds);
      s_.AddStepTime("MIGRATE", tm);
      s_.source->conn.SetCommandTimeout(s_.spec.command_timeout_ms);
      if (!r.ok()) {
        retry_reason = "no reply to MIGRATE: " + r.error().message;
      } else {
        for (size_t j = 0; j < idx.size(); ++j) {
          MigrateCommand& c = f.commands[idx[j]];
          const auto& rep = (*r)[j];
          if (rep.ok()) {
            done[idx[j]] = true;
            Covered(c, rep->str() != "NOKEY", window, covered);
            continue;
          }
          std::string text = RedisText(rep.error(), s_.source->conn.where());
          Status verdict = ClassifyMigrateError(c, text, &retry_reason, &backoff);
          if (!verdict.ok()) return verdict;
        }
      }
    }
    if (retry_reason.empty()) continue;  // only REPLACE resends left, or all done
    if (attempt >= s_.spec.max_retries) {
      return MakeError(Errc::kUnavailable, "MIGRATE of slot " +
                                               std::to_string(f.commands[idx[0]].slot) +
                                               " failed after " + std::to_string(attempt) +
                                               " retries: " + retry_reason + " (slot left open)");
    }
    s_.NoteRetry(retry_reason);
    if (backoff) {
      if (!s_.Backoff(attempt)) return s_.CancelError();
      if (auto s = CheckTarget(); !s.ok()) return s;
    }
  }
}

// Decides what a MIGRATE error reply means. Returns an error to stop; otherwise sets
// `retry_reason` (retry the command) or leaves it empty after arranging a REPLACE resend.
Status FlightRunner::ClassifyMigrateError(MigrateCommand& c, const std::string& text,
                            std::string* retry_reason, bool* backoff) {
  const std::string slot = std::to_string(c.slot);
  if (StartsWith(text, "IOERR")) {
    *retry_reason = "MIGRATE slot " + slot + ": " + text;
    return {};
  }
  size_t p = text.find(kTargetReplied);
  if (p == std::string::npos) {
    // The source itself refused.
    if (StartsWith(text, "MOVED") || StartsWith(text, "ASK")) {
      return MakeError(Errc::kFailedPrecondition,
                       "the source no longer owns slot " + slot + " (" + text + "); re-read "
                       "the topology and recover the slot");
    }
    if (StartsWith(text, "CLUSTERDOWN") || StartsWith(text, "LOADING") ||
        StartsWith(text, "BUSY ") || StartsWith(text, "TRYAGAIN")) {
      return MakeError(Errc::kUnavailable, "MIGRATE slot " + slot + " refused by the source: " +
                                               text + " (slot left open)");
    }
    return MakeError(Errc::kFailedPrecondition,
                     "MIGRATE slot " + slot + " refused by the source: " + text +
                         " (slot left open)");
  }
  std::string inner = text.substr(p + kTargetReplied.size());
  if (StartsWith(inner, "CLUSTERDOWN")) {
    return MakeError(Errc::kUnavailable,
                     "target says " + inner + " (slot " + slot + " left open)");
  }
  switch (ClassifyRedisError(inner)) {
    case RedisErrorKind::kBusyKey: {
      if (c.replace) {
        return MakeError(Errc::kInternal, "BUSYKEY despite REPLACE in slot " + slot + ": " + inner);
      }
      auto busy = ResolveBusyKeys(c);
      if (!busy.ok()) return busy.error();
      if (*busy) c.replace = true;
      ++s_.prog.retries;
      s_.log->warn("{} {}", s_.tag, s_.prog.last_error);
      s_.Emit();
      return {};  // resent at once, with REPLACE
    }
    case RedisErrorKind::kMoved:
    case RedisErrorKind::kAsk: {
      // The target is not importing the slot (lost its mark): mark it again and retry.
      auto r = s_.Pipe(*s_.target, {{"CLUSTER", "SETSLOT", slot, "IMPORTING", s_.source_id}},
                    "SETSLOT IMPORTING (target)");
      if (!r.ok()) return r.error();
      if (!(*r)[0].ok()) {
        return MakeError(Errc::kFailedPrecondition,
                         "target refused to import slot " + slot + " again: " +
                             (*r)[0].error().message);
      }
      *retry_reason = "target answered " + inner + " for slot " + slot + "; IMPORTING re-set";
      *backoff = false;
      return {};
    }
    case RedisErrorKind::kReadOnly:
      return MakeError(Errc::kFailedPrecondition,
                       "the target is no longer a primary (" + inner + "); slot " + slot +
                           " left open, re-plan the move");
    case RedisErrorKind::kLoading:
    case RedisErrorKind::kTryAgain:
    case RedisErrorKind::kBusy:
    case RedisErrorKind::kMasterDown:
      return MakeError(Errc::kUnavailable,
                       "target says " + inner + " (slot " + slot + " left open; retry later)");
    case RedisErrorKind::kOom:
      return MakeError(Errc::kFailedPrecondition,
                       "target is out of memory (" + inner + "); slot " + slot +
                           " left open: resize the target or roll back");
    default:
      return MakeError(Errc::kFailedPrecondition,
                       "target refused MIGRATE of slot " + slot + ": " + inner +
                           " (slot left open)");
  }
}

}  // namespace cf::agent
