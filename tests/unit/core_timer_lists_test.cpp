#include "core/timer_lists.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/deferred_list.hpp"

namespace iocomp::core {
namespace {

struct Node : TimerNode, DeferredNode {
  int id = 0;
};

std::vector<int> expire_ids(TimerLists& timers, std::int64_t now,
                            std::vector<TimerClass>* classes = nullptr) {
  std::vector<int> ids;
  timers.expire(now, [&](TimerNode& node, TimerClass cls) {
    ids.push_back(static_cast<Node&>(node).id);
    if (classes != nullptr) classes->push_back(cls);
  });
  return ids;
}

class TimerListsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    timers_.set_duration(TimerClass::header, 100);
    timers_.set_duration(TimerClass::idle, 1000);
    timers_.set_duration(TimerClass::send, 500);
    for (int i = 0; i < 4; ++i) nodes_[i].id = i;
  }
  TimerLists timers_;
  Node nodes_[4];
};

TEST_F(TimerListsTest, NothingArmedNothingPending) {
  EXPECT_FALSE(timers_.pending());
  EXPECT_EQ(timers_.next_deadline(), -1);
  EXPECT_TRUE(expire_ids(timers_, 1000000).empty());
}

TEST_F(TimerListsTest, ExpiresInDeadlineOrderPerClassAndOnlyWhenDue) {
  timers_.arm(nodes_[0], TimerClass::header, 0);   // 100
  timers_.arm(nodes_[1], TimerClass::header, 50);  // 150
  timers_.arm(nodes_[2], TimerClass::send, 0);     // 500
  EXPECT_TRUE(timers_.pending());
  EXPECT_EQ(timers_.next_deadline(), 100);
  EXPECT_TRUE(expire_ids(timers_, 99).empty());
  std::vector<TimerClass> classes;
  EXPECT_EQ(expire_ids(timers_, 150, &classes), (std::vector<int>{0, 1}));
  EXPECT_EQ(classes, (std::vector<TimerClass>{TimerClass::header, TimerClass::header}));
  EXPECT_EQ(nodes_[0].timer_class, TimerClass::none);  // disarmed before the call
  EXPECT_EQ(timers_.next_deadline(), 500);
  EXPECT_EQ(expire_ids(timers_, 500), (std::vector<int>{2}));
  EXPECT_FALSE(timers_.pending());
}

TEST_F(TimerListsTest, RearmingMovesANodeToTheTailWithItsNewDeadline) {
  timers_.arm(nodes_[0], TimerClass::header, 0);
  timers_.arm(nodes_[1], TimerClass::header, 10);
  timers_.arm(nodes_[0], TimerClass::header, 20);  // now after node 1
  EXPECT_EQ(expire_ids(timers_, 115), (std::vector<int>{1}));
  EXPECT_EQ(expire_ids(timers_, 120), (std::vector<int>{0}));
}

TEST_F(TimerListsTest, ArmingAnotherClassReplacesTheFirst) {
  timers_.arm(nodes_[0], TimerClass::header, 0);
  timers_.arm(nodes_[0], TimerClass::idle, 0);
  EXPECT_TRUE(expire_ids(timers_, 500).empty());
  EXPECT_EQ(expire_ids(timers_, 1000), (std::vector<int>{0}));
}

TEST_F(TimerListsTest, DisarmFromTheMiddleHeadAndTailKeepsTheListIntact) {
  for (int i = 0; i < 4; ++i) timers_.arm(nodes_[i], TimerClass::send, i);
  timers_.disarm(nodes_[1]);  // middle
  timers_.disarm(nodes_[0]);  // head
  timers_.disarm(nodes_[3]);  // tail
  timers_.disarm(nodes_[3]);  // twice: a no-op
  EXPECT_EQ(expire_ids(timers_, 10000), (std::vector<int>{2}));
}

TEST_F(TimerListsTest, AFireCallbackMayRearmTheNode) {
  timers_.arm(nodes_[0], TimerClass::header, 0);
  int fired = 0;
  timers_.expire(100, [&](TimerNode& node, TimerClass) {
    ++fired;
    timers_.arm(node, TimerClass::header, 100);  // due at 200: not in this expiry
  });
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(timers_.next_deadline(), 200);
}

TEST(DeferredListTest, FifoAndTakeAllEmptiesTheList) {
  Node nodes[3];
  DeferredList list;
  EXPECT_TRUE(list.empty());
  for (int i = 0; i < 3; ++i) {
    nodes[i].id = i;
    list.push(&nodes[i]);
  }
  std::vector<int> order;
  for (DeferredNode* n = list.take_all(); n != nullptr; n = n->deferred_next) {
    order.push_back(static_cast<Node*>(n)->id);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(list.empty());
  list.push(&nodes[1]);  // a node taken may be queued again
  EXPECT_EQ(static_cast<Node*>(list.take_all())->id, 1);
}

}  // namespace
}  // namespace iocomp::core
