// A fixed pool of threads for fan-out: ParallelFor runs n short tasks (agent RPCs) at once and
// waits for all of them. Used by the reconcilers so that, e.g., every node of a group is
// launched in parallel. Tasks must not call ParallelFor themselves (no nesting).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cf::orchestrator {

class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();  // finishes queued tasks, joins
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Runs fn(0..n-1) concurrently (n == 1 runs inline) and returns when all have finished.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace cf::orchestrator
