#pragma once
// Work deferred to the end of an event-loop turn (a send that yielded its turn, a receive that
// found no buffer, a connection to free once no callback is on the stack). An intrusive FIFO:
// queuing allocates nothing, so closing a connection works even when memory has run out.
namespace iocomp::core {

struct DeferredNode {
  DeferredNode* deferred_next = nullptr;
};

class DeferredList {
 public:
  bool empty() const { return head_ == nullptr; }

  void push(DeferredNode* node) {
    node->deferred_next = nullptr;
    if (tail_ != nullptr) {
      tail_->deferred_next = node;
    } else {
      head_ = node;
    }
    tail_ = node;
  }

  // The chain, oldest first (follow deferred_next); the list is left empty, so callbacks run
  // on the chain may queue work for the next turn.
  DeferredNode* take_all() {
    DeferredNode* chain = head_;
    head_ = tail_ = nullptr;
    return chain;
  }

 private:
  DeferredNode* head_ = nullptr;
  DeferredNode* tail_ = nullptr;
};

}  // namespace iocomp::core
