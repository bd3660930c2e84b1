#include "orchestrator/operations/task_pool.h"

#include <algorithm>
#include <memory>

namespace cf::orchestrator {

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void TaskPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1) {
    fn(0);
    return;
  }
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    size_t left;
  };
  auto latch = std::make_shared<Latch>();
  latch->left = n;
  {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < n; ++i) {
      queue_.push_back([latch, &fn, i] {
        fn(i);
        std::lock_guard l(latch->mu);
        if (--latch->left == 0) latch->cv.notify_all();
      });
    }
  }
  cv_.notify_all();
  std::unique_lock lk(latch->mu);
  latch->cv.wait(lk, [&] { return latch->left == 0; });
}

}  // namespace cf::orchestrator
