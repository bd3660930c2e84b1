#include "agent/slots/move_session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace cf::agent {

using std::chrono::milliseconds;

std::string Printable(std::string_view k, size_t max_len) {
  std::string out;
  for (unsigned char c : k.substr(0, max_len)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (k.size() > max_len) out += "...";
  return out;
}

std::string RedisText(const Error& e, const std::string& where) {
  std::string prefix = "redis " + where + ": ";
  return StartsWith(e.message, prefix) ? e.message.substr(prefix.size()) : e.message;
}

Status Peer::Ready() {
  if (conn.connected()) return {};
  if (auto s = conn.Connect(); !s.ok()) return s;
  if (!password.empty()) {
    auto r = conn.Command({"AUTH", password});
    if (!r.ok() && !Contains(r.error().message, "without any password configured")) {
      conn.Close();
      return MakeError(Errc::kFailedPrecondition, "AUTH on " + name() + ": " + r.error().message);
    }
  }
  return {};
}

MoveSession::MoveSession(MoveSpec s, ProgressSink k, CancelCheck c)
    : spec(std::move(s)), sink(std::move(k)), cancelled(std::move(c)), sizer(spec.batch) {
  tag = "[" + spec.move_id + "/" + std::to_string(spec.attempt) + " " + spec.source_node_id +
        "->" + Short(spec.target.cluster_node_id) + "]";
}

void MoveSession::SetPhase(MovePhase to) {
  if (!IsValidMovePhaseTransition(phase, to)) {
    log->error("{} unexpected phase change {} -> {}", tag, MovePhaseName(phase), MovePhaseName(to));
  } else if (to != phase) {
    log->debug("{} phase {} -> {}", tag, MovePhaseName(phase), MovePhaseName(to));
  }
  phase = to;
}

void MoveSession::AddStepTime(std::string_view step, Clock::time_point t0) {
  auto it = step_time.find(step);
  if (it == step_time.end()) it = step_time.emplace(std::string(step), std::pair{0.0, 0}).first;
  it->second.first += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  it->second.second += 1;
}

ServerProfile MoveSession::ReadProfile(Peer& p) {
  ServerProfile out;
  if (!p.Ready().ok()) return out;
  auto r = p.conn.Pipeline({{"INFO", "cpu"}, {"INFO", "commandstats"}});
  if (!r.ok() || !(*r)[0].ok() || !(*r)[1].ok()) return out;
  auto field = [](const std::string& text, const std::string& key) -> double {
    auto pos = text.find(key + ":");
    return pos == std::string::npos ? 0.0 : std::strtod(text.c_str() + pos + key.size() + 1, nullptr);
  };
  const std::string cpu = (*r)[0]->str();
  out.cpu_ms = 1000.0 * (field(cpu, "used_cpu_user") + field(cpu, "used_cpu_sys"));
  const std::string stats = (*r)[1]->str();
  for (size_t pos = 0; (pos = stats.find("cmdstat_", pos)) != std::string::npos;) {
    size_t colon = stats.find(':', pos);
    size_t eol = stats.find('\n', pos);
    if (colon == std::string::npos) break;
    std::string name = stats.substr(pos + 8, colon - pos - 8);
    size_t u = stats.find("usec=", colon);
    if (u != std::string::npos && (eol == std::string::npos || u < eol)) {
      out.cmd_usec[name] = std::strtod(stats.c_str() + u + 5, nullptr);
    }
    pos = colon;
  }
  out.ok = true;
  return out;
}
std::string MoveSession::ProfileDelta(const ServerProfile& a, const ServerProfile& b) {
  if (!a.ok || !b.ok) return "n/a";
  std::string out = "cpu " + std::to_string(static_cast<long long>(b.cpu_ms - a.cpu_ms)) + " ms";
  std::vector<std::pair<double, std::string>> v;
  for (const auto& [k, us] : b.cmd_usec) {
    auto it = a.cmd_usec.find(k);
    double d = us - (it == a.cmd_usec.end() ? 0.0 : it->second);
    if (d >= 1000) v.push_back({d, k});
  }
  std::sort(v.rbegin(), v.rend());
  for (size_t i = 0; i < v.size() && i < 5; ++i) {
    out += ", " + v[i].second + " " + std::to_string(static_cast<long long>(v[i].first / 1000)) + " ms";
  }
  return out;
}
ServerProfile source_profile0, target_profile0;

std::string MoveSession::StepTimes() const {
  std::vector<std::pair<double, std::string>> v;
  for (const auto& [k, t] : step_time) {
    v.push_back({t.first, k + " " + std::to_string(static_cast<long long>(t.first)) + " ms/" +
                              std::to_string(t.second)});
  }
  std::sort(v.rbegin(), v.rend());
  std::string out;
  for (const auto& [ms, text] : v) out += (out.empty() ? "" : ", ") + text;
  return out;
}

bool MoveSession::Cancelled() {
  if (draining) return Clock::now() > drain_deadline;
  return sink_failed || (cancelled && cancelled());
}

void MoveSession::Emit() {
  last_emit = Clock::now();
  if (sink_failed || !sink) {
    prog.completed.clear();
    return;
  }
  MoveProgress p = prog;
  p.completed = NormalizeSlotRanges(p.completed);
  auto t0 = Clock::now();
  bool delivered = sink(p);
  AddStepTime("progress", t0);
  if (!delivered) {
    sink_failed = true;
    log->warn("{} progress stream closed by the client", tag);
  }
  prog.completed.clear();
}

void MoveSession::MaybeEmit() {
  if (Clock::now() - last_emit >= milliseconds(spec.progress_interval_ms)) Emit();
}

void MoveSession::NoteRetry(const std::string& what) {
  ++prog.retries;
  prog.last_error = what;
  log->warn("{} retry {}: {}", tag, prog.retries, what);
  Emit();
}

// Sleeps the backoff of retry number `attempt` (0-based); false when cancelled meanwhile.
bool MoveSession::Backoff(uint32_t attempt) {
  uint64_t ms = spec.retry_backoff_initial_ms;
  for (uint32_t i = 0; i < attempt && ms < spec.retry_backoff_max_ms; ++i) ms *= 2;
  ms = std::min<uint64_t>(ms, spec.retry_backoff_max_ms);
  auto until = Clock::now() + milliseconds(ms);
  while (Clock::now() < until) {
    if (Cancelled()) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// Pacing (BatchLimits::busy_percent): the source was busy with our work since `busy_from`;
// stay idle for the matching share so its clients get their turn. Interrupted by a cancel.
void MoveSession::Pace(Clock::time_point busy_from) {
  auto now = Clock::now();
  double busy_ms = std::chrono::duration<double, std::milli>(now - busy_from).count();
  double idle_ms = PaceIdleMs(busy_ms, spec.batch.busy_percent);
  if (idle_ms <= 0) return;
  auto idle = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(idle_ms));
  auto until = now + idle;
  while (Clock::now() < until && !Cancelled()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), milliseconds(10)));
  }
  AddStepTime("pace (idle for clients)", now);
}

Error MoveSession::CancelError() const {
  return MakeError(Errc::kUnavailable, "move cancelled" + std::string(sink_failed ? " (client gone)" : ""));
}

// Runs idempotent `cmds` on `p`, retrying connection failures and timeouts with backoff.
// The outer Result fails when the node stays unreachable (or we are cancelled); each inner
// Result is one command's reply or error reply.
Result<Replies> MoveSession::Pipe(Peer& p, const Cmds& cmds, std::string_view step) {
  auto t0 = Clock::now();
  struct Timed {
    MoveSession* self;
    std::string_view step;
    Clock::time_point t0;
    ~Timed() { self->AddStepTime(step, t0); }
  } timed{this, step, t0};
  for (uint32_t attempt = 0;; ++attempt) {
    Error err;
    if (auto s = p.Ready(); !s.ok()) {
      err = s.error();
    } else {
      auto r = p.conn.Pipeline(cmds);
      if (r.ok()) return r;
      err = r.error();
    }
    if (err.code == Errc::kFailedPrecondition) return err;  // AUTH refused: no retry helps
    if (attempt >= spec.max_retries) {
      return MakeError(err.code, std::string(step) + " on " + p.name() + " failed after " +
                                     std::to_string(attempt) + " retries: " + err.message);
    }
    NoteRetry(std::string(step) + " on " + p.name() + ": " + err.message);
    if (!Backoff(attempt)) return CancelError();
  }
}

RedisConnOptions MoveSession::ConnOpts(const std::string& host, uint32_t port) const {
  return RedisConnOptions{.host = host,
                          .port = static_cast<uint16_t>(port),
                          .connect_timeout_ms = spec.connect_timeout_ms,
                          .command_timeout_ms = spec.command_timeout_ms};
}

Result<std::vector<ClusterNodeEntry>> MoveSession::ReadNodes(Peer& p) {
  auto r = Pipe(p, {{"CLUSTER", "NODES"}}, "CLUSTER NODES");
  if (!r.ok()) return r.error();
  if (!(*r)[0].ok()) return (*r)[0].error();
  return ParseClusterNodes((*r)[0]->str());
}

}  // namespace cf::agent
