// The fixture's own promises: what it records, what it sends, and that each contract check it
// advertises does fail a test. A scripted handler stands in for a session.
#include "memory_channel.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

namespace iocomp::test_support {
namespace {

using core::TimerKind;

// Each callback runs the test's script for it; every event is recorded.
struct ScriptedHandler final : core::SessionHandler {
  std::function<void()> open;
  std::function<void(std::string_view)> receive;
  std::function<void(int, std::uint64_t)> sent;
  std::vector<std::string> events;

  void on_open() override {
    events.push_back("open");
    if (open) open();
  }
  void on_receive(std::string_view bytes) override {
    events.push_back("receive " + std::string(bytes));
    if (receive) receive(bytes);
  }
  void on_receive_end(int error) override { events.push_back("end " + std::to_string(error)); }
  void on_sent(int error, std::uint64_t bytes) override {
    events.push_back("sent " + std::to_string(error) + " " + std::to_string(bytes));
    if (sent) sent(error, bytes);
  }
  void on_timeout(TimerKind kind) override {
    events.push_back(kind == TimerKind::header ? "timeout header" : "timeout idle");
  }
  void on_drain() override { events.push_back("drain"); }
  void on_warmed() override { events.push_back("warmed"); }
};

class MemoryChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    channel.attach(handler);
    handler.open = [this] { channel.receive(); };
  }

  MemoryChannel channel;
  ScriptedHandler handler;
};

TEST_F(MemoryChannelTest, DeliversBytesOnlyWhenAsked) {
  channel.open();
  EXPECT_TRUE(channel.receive_pending());
  channel.deliver("abc");
  EXPECT_FALSE(channel.receive_pending());
  EXPECT_NONFATAL_FAILURE(channel.deliver("def"), "without a pending receive");
  EXPECT_EQ(handler.events, (std::vector<std::string>{"open", "receive abc"}));
}

TEST_F(MemoryChannelTest, DeliversInChunks) {
  handler.receive = [this](std::string_view) { channel.receive(); };
  channel.open();
  channel.deliver_in_chunks("abcde", 2);
  EXPECT_EQ(handler.events,
            (std::vector<std::string>{"open", "receive ab", "receive cd", "receive e"}));
}

TEST_F(MemoryChannelTest, OutputJoinsHeadBodyAndFileRange) {
  FILE* file = ::tmpfile();
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(::pwrite(::fileno(file), "0123456789", 10, 0), 10);
  const std::string head = "head:";
  const std::string body = "body:";
  handler.receive = [&](std::string_view) { channel.send(head, body, {::fileno(file), 3, 4}); };
  channel.open();
  channel.deliver("go");
  ASSERT_TRUE(channel.pending_send());
  EXPECT_EQ(channel.output(), "");  // nothing is sent before the completion
  channel.complete_send();
  EXPECT_EQ(channel.take_output(), "head:body:3456");
  EXPECT_EQ(channel.output(), "");
  EXPECT_EQ(handler.events.back(), "sent 0 14");
  ::fclose(file);
}

TEST_F(MemoryChannelTest, FailedSendDeliversItsFirstBytesAndTheError) {
  handler.receive = [this](std::string_view) { channel.send("0123456789", {}, {}); };
  channel.open();
  channel.deliver("go");
  channel.fail_send(-EPIPE, 4);
  EXPECT_EQ(channel.output(), "0123");
  EXPECT_EQ(handler.events.back(), "sent " + std::to_string(-EPIPE) + " 4");
}

TEST_F(MemoryChannelTest, OneSendAtATime) {
  handler.receive = [this](std::string_view) {
    channel.send("a", {}, {});
    channel.send("b", {}, {});
  };
  channel.open();
  EXPECT_NONFATAL_FAILURE(channel.deliver("go"), "one at a time");
}

TEST_F(MemoryChannelTest, HeadMustStayUnchangedUntilOnSent) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  handler.receive = [&](std::string_view) { channel.send(head, {}, {}); };
  channel.open();
  channel.deliver("go");
  head[0] = 'X';
  EXPECT_NONFATAL_FAILURE(channel.complete_send(), "changed between send() and on_sent");
}

TEST_F(MemoryChannelTest, FileRangeMustLieInsideTheFile) {
  FILE* file = ::tmpfile();
  ASSERT_NE(file, nullptr);
  handler.receive = [&](std::string_view) { channel.send({}, {}, {::fileno(file), 0, 1}); };
  channel.open();
  EXPECT_NONFATAL_FAILURE(channel.deliver("go"), "lies beyond the file");
  ::fclose(file);
}

TEST_F(MemoryChannelTest, NothingAfterClose) {
  handler.receive = [this](std::string_view) {
    channel.close();
    channel.close();  // idempotent
    channel.receive();
  };
  channel.open();
  EXPECT_NONFATAL_FAILURE(channel.deliver("go"), "receive() after close()");
  EXPECT_TRUE(channel.closed());
  EXPECT_NONFATAL_FAILURE(channel.end_stream(), "after close()");
  EXPECT_NONFATAL_FAILURE(channel.send("x", {}, {}), "send() after close()");
}

TEST_F(MemoryChannelTest, NoCompletionFromInsideAHandlerCall) {
  handler.receive = [this](std::string_view) {
    channel.send("a", {}, {});
    channel.complete_send();  // what an engine completing inside send() would do
  };
  channel.open();
  EXPECT_NONFATAL_FAILURE(channel.deliver("go"), "from inside a handler call");
}

TEST_F(MemoryChannelTest, TimerRecordsAndFires) {
  handler.open = [this] {
    channel.set_timer(TimerKind::header);
    channel.receive();
  };
  channel.open();
  EXPECT_EQ(channel.timer(), TimerKind::header);
  EXPECT_EQ(channel.timer_calls(), std::vector<TimerKind>{TimerKind::header});
  channel.fire_timer();
  EXPECT_EQ(channel.timer(), TimerKind::none);
  EXPECT_EQ(handler.events.back(), "timeout header");
  EXPECT_NONFATAL_FAILURE(channel.fire_timer(), "no protocol timer armed");
}

TEST_F(MemoryChannelTest, ArmedTimerMustNotBeRearmed) {
  handler.open = [this] {
    channel.set_timer(TimerKind::idle);
    channel.set_timer(TimerKind::idle);
  };
  EXPECT_NONFATAL_FAILURE(channel.open(), "re-armed while armed");
}

TEST_F(MemoryChannelTest, NoProtocolTimerDuringASend) {
  handler.receive = [this](std::string_view) {
    channel.send("a", {}, {});
    channel.set_timer(TimerKind::idle);
  };
  channel.open();
  EXPECT_NONFATAL_FAILURE(channel.deliver("go"), "would replace the send timer");
}

TEST_F(MemoryChannelTest, DrainIsSeenByTheHandler) {
  channel.open();
  EXPECT_FALSE(channel.draining());
  channel.drain();
  EXPECT_TRUE(channel.draining());
  EXPECT_EQ(handler.events.back(), "drain");
}

}  // namespace
}  // namespace iocomp::test_support
