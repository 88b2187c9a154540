#pragma once
// Per-connection timers for the event-loop models (io_uring, epoll): one list per timer class.
// Every class has one fixed duration, so appending at the tail keeps each list sorted by
// deadline: arming, re-arming and disarming are O(1) and expiry looks only at list heads. No
// heap, no allocation, no system call; the loop checks them on a tick.
#include <array>
#include <cstdint>

namespace iocomp::core {

enum class TimerClass : std::uint8_t { none, header, idle, send, linger, pace, count };

// Embedded in a connection (intrusive): a connection is on at most one list at a time.
struct TimerNode {
  TimerNode* timer_prev = nullptr;
  TimerNode* timer_next = nullptr;
  TimerClass timer_class = TimerClass::none;
  std::int64_t deadline_ms = 0;
};

class TimerLists {
 public:
  void set_duration(TimerClass cls, int ms) { lists_[index(cls)].duration_ms = ms; }

  // (Re)arms `node` for `cls`, replacing whatever it had.
  void arm(TimerNode& node, TimerClass cls, std::int64_t now_ms) {
    disarm(node);
    List& list = lists_[index(cls)];
    node.timer_class = cls;
    node.deadline_ms = now_ms + list.duration_ms;
    node.timer_prev = list.tail;
    node.timer_next = nullptr;
    if (list.tail != nullptr) {
      list.tail->timer_next = &node;
    } else {
      list.head = &node;
    }
    list.tail = &node;
  }

  void disarm(TimerNode& node) {
    if (node.timer_class == TimerClass::none) return;
    List& list = lists_[index(node.timer_class)];
    if (node.timer_prev != nullptr) {
      node.timer_prev->timer_next = node.timer_next;
    } else {
      list.head = node.timer_next;
    }
    if (node.timer_next != nullptr) {
      node.timer_next->timer_prev = node.timer_prev;
    } else {
      list.tail = node.timer_prev;
    }
    node.timer_prev = node.timer_next = nullptr;
    node.timer_class = TimerClass::none;
  }

  // Calls fire(node, cls) for every node whose deadline has passed, disarmed first (fire may
  // re-arm it, which puts it at a tail with a later deadline, or free it).
  template <typename Fire>
  void expire(std::int64_t now_ms, Fire&& fire) {
    for (std::size_t i = 1; i < lists_.size(); ++i) {
      List& list = lists_[i];
      while (list.head != nullptr && list.head->deadline_ms <= now_ms) {
        TimerNode* node = list.head;
        disarm(*node);
        fire(*node, static_cast<TimerClass>(i));
      }
    }
  }

  bool pending() const {
    for (std::size_t i = 1; i < lists_.size(); ++i) {
      if (lists_[i].head != nullptr) return true;
    }
    return false;
  }

  // The earliest deadline of any armed timer, or -1 when none is armed (for a poll timeout).
  std::int64_t next_deadline() const {
    std::int64_t next = -1;
    for (std::size_t i = 1; i < lists_.size(); ++i) {
      const TimerNode* head = lists_[i].head;
      if (head != nullptr && (next < 0 || head->deadline_ms < next)) next = head->deadline_ms;
    }
    return next;
  }

 private:
  struct List {
    TimerNode* head = nullptr;
    TimerNode* tail = nullptr;
    int duration_ms = 0;
  };
  static std::size_t index(TimerClass cls) { return static_cast<std::size_t>(cls); }

  std::array<List, static_cast<std::size_t>(TimerClass::count)> lists_{};
};

}  // namespace iocomp::core
