// server::ProxyStage driven through MemoryChannel, with a recording session behind it: who may
// send a header, what the session sees (peer, bytes behind the header, timers), and what each
// refusal counts and logs.
#include "server/proxy_stage.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "memory_channel.hpp"

namespace iocomp::server {
namespace {

using core::TimerKind;
using test_support::MemoryChannel;
using namespace std::string_literals;

// What the session behind the stage was told, one entry per call; it behaves like Session at
// open (arms the header timer, asks for bytes).
class RecordingSession final : public core::SessionHandler {
 public:
  RecordingSession(core::Channel& channel, std::vector<std::string>& calls)
      : channel_(channel), calls_(calls) {}
  void on_open() override {
    calls_.push_back("open as " + std::string(channel_.peer()));
    channel_.set_timer(TimerKind::header);
    channel_.receive();
  }
  void on_receive(std::string_view bytes) override {
    calls_.push_back("receive " + std::string(bytes));
  }
  void on_receive_end(int error) override { calls_.push_back("end " + std::to_string(error)); }
  void on_sent(int error, std::uint64_t bytes) override {
    calls_.push_back("sent " + std::to_string(error) + " " + std::to_string(bytes));
  }
  void on_timeout(TimerKind) override { calls_.push_back("timeout"); }
  void on_drain() override { calls_.push_back("drain"); }
  void on_warmed() override { calls_.push_back("warmed"); }

 private:
  core::Channel& channel_;
  std::vector<std::string>& calls_;
};

class ProxyStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_file_ = std::tmpfile();
    ASSERT_NE(log_file_, nullptr);
    sink_ = std::make_unique<log::LogSink>(::fileno(log_file_));
    log_ = std::make_unique<log::EventLog>(sink_.get());
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    log_->set_time(now);
  }
  void TearDown() override {
    stage_.reset();
    log_.reset();
    sink_.reset();
    std::fclose(log_file_);
  }

  // A stage on a connection from `peer`, accepting headers from `trusted`.
  void start(const std::string& peer, const std::string& trusted = "127.0.0.0/8,::1/128") {
    stage_.reset();  // before what it refers to
    std::string error;
    std::optional<proxy::CidrList> list = proxy::CidrList::parse(trusted, error);
    ASSERT_TRUE(list) << error;
    context_ = std::make_unique<ProxyStageContext>(
        ProxyStageContext{std::move(*list), proxy::Limits{}, counters_});
    channel_ = std::make_unique<MemoryChannel>(peer);
    stage_ = std::make_unique<ProxyStage>(*channel_, *log_, *context_, factory_, 3);
    channel_->attach(*stage_);
    channel_->open();
  }

  // Everything logged so far (the sink is flushed by closing it).
  std::string log_text() {
    stage_.reset();  // a session's last words, too
    log_->flush();
    log_.reset();
    sink_.reset();
    std::string text;
    std::rewind(log_file_);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, log_file_)) > 0) text.append(buffer, n);
    return text;
  }

  std::uint64_t count(std::atomic<std::uint64_t> proxy::ProxyCounters::*member) const {
    return (counters_.*member).load();
  }
  // The refusal counters added up.
  std::uint64_t refused() const {
    std::uint64_t total = 0;
    for (const auto& field : proxy::kProxyCounterFields) {
      if (field.refused) total += (counters_.*field.member).load();
    }
    return total;
  }

  std::vector<std::string> calls_;
  int sessions_made_ = 0;
  int worker_seen_ = -2;
  const core::SessionFactory factory_ = [this](core::Channel& channel, log::EventLog& log,
                                               int worker) {
    EXPECT_EQ(&log, log_.get());
    ++sessions_made_;
    worker_seen_ = worker;
    return std::make_unique<RecordingSession>(channel, calls_);
  };
  proxy::ProxyCounters counters_;
  std::FILE* log_file_ = nullptr;
  std::unique_ptr<log::LogSink> sink_;
  std::unique_ptr<log::EventLog> log_;
  std::unique_ptr<ProxyStageContext> context_;
  std::unique_ptr<MemoryChannel> channel_;
  std::unique_ptr<ProxyStage> stage_;
};

const std::string kV1 = "PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n";

std::string v2_inet(std::uint8_t command) {
  // 198.51.100.20:5555 -> 10.0.0.1:80
  return "\r\n\r\n\0\r\nQUIT\n"s + static_cast<char>(0x20 | command) + "\x11\x00\x0c"s +
         "\xc6\x33\x64\x14\x0a\x00\x00\x01\x15\xb3\x00\x50"s;
}

TEST_F(ProxyStageTest, AHeaderNamesTheClientTheSessionSees) {
  start("127.0.0.1:40000");
  EXPECT_TRUE(channel_->receive_pending());
  EXPECT_EQ(channel_->timer(), TimerKind::header);
  EXPECT_EQ(sessions_made_, 0);  // nothing before the header
  channel_->deliver(kV1 + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(sessions_made_, 1);
  EXPECT_EQ(worker_seen_, 3);
  EXPECT_EQ(stage_->peer(), "203.0.113.7:4242");
  EXPECT_EQ(channel_->admission_moves(), std::vector<std::string>{"203.0.113.7"});
  // The bytes behind the header are the session's first receive, after its on_open.
  EXPECT_EQ(calls_,
            (std::vector<std::string>{"open as 203.0.113.7:4242", "receive GET / HTTP/1.1\r\n"}));
  EXPECT_FALSE(channel_->receive_pending());  // the session has not asked again
  EXPECT_EQ(count(&proxy::ProxyCounters::proxied), 1u);
  EXPECT_EQ(refused(), 0u);
  EXPECT_NE(log_text().find(" 203.0.113.7:4242 proxied by 127.0.0.1:40000\n"), std::string::npos);
}

TEST_F(ProxyStageTest, AHeaderInPiecesThenTheSessionAsksForItsOwnBytes) {
  start("[::1]:40000");
  const std::string header = v2_inet(1);
  channel_->deliver(header.substr(0, 1));
  channel_->deliver(header.substr(1, 14));
  EXPECT_EQ(sessions_made_, 0);
  channel_->deliver(header.substr(15));
  ASSERT_EQ(sessions_made_, 1);
  EXPECT_EQ(stage_->peer(), "198.51.100.20:5555");
  EXPECT_EQ(calls_, std::vector<std::string>{"open as 198.51.100.20:5555"});
  // Nothing arrived behind the header: the session's receive went to the connection.
  EXPECT_TRUE(channel_->receive_pending());
  channel_->deliver("name\n");
  EXPECT_EQ(calls_.back(), "receive name\n");
  stage_->receive();  // as the session asks for more
  channel_->end_stream();
  EXPECT_EQ(calls_.back(), "end 0");
}

TEST_F(ProxyStageTest, OneHeaderTimeoutCoversTheHeaderAndTheFirstRequest) {
  start("127.0.0.1:40000");
  channel_->deliver(kV1);
  // The session's set_timer(header) at open kept the timer armed at accept (MemoryChannel
  // fails a re-armed header timer too).
  EXPECT_EQ(channel_->timer_calls(), std::vector<TimerKind>{TimerKind::header});
  channel_->fire_timer();
  EXPECT_EQ(calls_.back(), "timeout");  // the session's timeout now
  EXPECT_EQ(count(&proxy::ProxyCounters::timed_out), 0u);
}

TEST_F(ProxyStageTest, EverythingElsePassesThroughOnceServing) {
  start("127.0.0.1:40000");
  channel_->deliver(kV1);
  stage_->set_timer(TimerKind::idle);
  EXPECT_EQ(channel_->timer(), TimerKind::idle);
  stage_->send("head", "body", {});
  ASSERT_TRUE(channel_->pending_send().has_value());
  channel_->complete_send();
  EXPECT_EQ(channel_->output(), "headbody");
  EXPECT_EQ(calls_.back(), "sent 0 8");
  EXPECT_FALSE(stage_->draining());
  channel_->drain();
  EXPECT_TRUE(stage_->draining());
  EXPECT_EQ(calls_.back(), "drain");
  EXPECT_TRUE(stage_->move_admission("192.0.2.1"));
  EXPECT_EQ(channel_->admission_moves().back(), "192.0.2.1");
  stage_->close();
  EXPECT_TRUE(channel_->closed());
}

TEST_F(ProxyStageTest, ASourceOutsideProxyFromIsClosedBeforeAnyRead) {
  start("127.0.0.1:40000", "10.0.0.0/8");
  EXPECT_TRUE(channel_->closed());
  EXPECT_FALSE(channel_->receive_pending());
  EXPECT_EQ(channel_->sends_started(), 0u);
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(count(&proxy::ProxyCounters::untrusted_source), 1u);
  EXPECT_EQ(refused(), 1u);
  EXPECT_NE(log_text().find(
                " 127.0.0.1:40000 error: PROXY protocol: source not in --proxy-from; closed\n"),
            std::string::npos);
}

TEST_F(ProxyStageTest, APeerTextThatIsNoAddressIsNotTrusted) {
  start("unknown", "::/0");
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(count(&proxy::ProxyCounters::untrusted_source), 1u);
}

TEST_F(ProxyStageTest, ARequestWithoutHeaderIsClosedWithoutAnswer) {
  start("127.0.0.1:40000");
  channel_->deliver("G");
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(channel_->sends_started(), 0u);
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(count(&proxy::ProxyCounters::missing_or_invalid), 1u);
  EXPECT_NE(log_text().find(" 127.0.0.1:40000 error: PROXY protocol: no header: the first bytes "
                            "are not a PROXY header; closed\n"),
            std::string::npos);
}

TEST_F(ProxyStageTest, AnInvalidHeaderInPiecesIsClosed) {
  start("127.0.0.1:40000");
  channel_->deliver("PROXY TCP4 1.2.3.4 ");
  EXPECT_FALSE(channel_->closed());
  channel_->deliver("5.6.7.8 1 99999\r\nGET");
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(count(&proxy::ProxyCounters::missing_or_invalid), 1u);
  EXPECT_NE(log_text().find("error: PROXY protocol: PROXY v1: bad port; closed"),
            std::string::npos);
}

TEST_F(ProxyStageTest, ClosedOrFailedBeforeTheHeaderEndsIsIncomplete) {
  start("127.0.0.1:40000");
  channel_->end_stream();
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(count(&proxy::ProxyCounters::incomplete), 1u);

  start("127.0.0.1:40001");
  channel_->deliver("PROXY TCP4");
  channel_->end_stream();
  EXPECT_EQ(count(&proxy::ProxyCounters::incomplete), 2u);

  start("127.0.0.1:40002");
  channel_->end_stream(-ECONNRESET);
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(count(&proxy::ProxyCounters::incomplete), 3u);
  EXPECT_EQ(sessions_made_, 0);
  const std::string text = log_text();
  EXPECT_NE(text.find("40000 error: PROXY protocol: closed by the peer before a header; closed"),
            std::string::npos);
  EXPECT_NE(text.find("40001 error: PROXY protocol: closed by the peer inside the header; closed"),
            std::string::npos);
  EXPECT_NE(text.find("40002 error: PROXY protocol: receive failed: "), std::string::npos);
}

TEST_F(ProxyStageTest, AStalledHeaderIsClosedAtTheHeaderTimeout) {
  start("127.0.0.1:40000");
  channel_->deliver("PROXY ");
  EXPECT_EQ(channel_->timer(), TimerKind::header);
  channel_->fire_timer();
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(count(&proxy::ProxyCounters::timed_out), 1u);
  EXPECT_NE(log_text().find("no complete header within --header-timeout; closed"),
            std::string::npos);
}

TEST_F(ProxyStageTest, AClientAtItsAddressLimitIsClosed) {
  start("127.0.0.1:40000");
  channel_->set_admission_result(false);
  channel_->deliver(kV1 + "name\n");
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(channel_->sends_started(), 0u);
  EXPECT_EQ(count(&proxy::ProxyCounters::over_address_limit), 1u);
  EXPECT_EQ(count(&proxy::ProxyCounters::proxied), 0u);
  EXPECT_NE(log_text().find(" 127.0.0.1:40000 error: PROXY protocol: client 203.0.113.7:4242 has "
                            "--max-connections-per-ip connections; closed"),
            std::string::npos);
}

TEST_F(ProxyStageTest, LocalIsServedAsTheBalancerItself) {
  start("127.0.0.1:40000");
  channel_->deliver(v2_inet(0) + "x\n");
  ASSERT_EQ(sessions_made_, 1);
  EXPECT_EQ(stage_->peer(), "127.0.0.1:40000");
  EXPECT_TRUE(channel_->admission_moves().empty());
  EXPECT_EQ(calls_, (std::vector<std::string>{"open as 127.0.0.1:40000", "receive x\n"}));
  EXPECT_EQ(count(&proxy::ProxyCounters::local_command), 1u);
  EXPECT_EQ(refused(), 0u);
}

TEST_F(ProxyStageTest, AHealthCheckThatLeavesIsCountedNotLogged) {
  start("127.0.0.1:40000");
  channel_->deliver(v2_inet(0));
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_TRUE(channel_->receive_pending());
  channel_->end_stream(-ECONNRESET);  // HAProxy resets its check connections
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(count(&proxy::ProxyCounters::local_command), 1u);
  EXPECT_EQ(refused(), 0u);

  start("127.0.0.1:40001");  // one that stays silent until the header timeout
  channel_->deliver(v2_inet(0));
  channel_->fire_timer();
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(count(&proxy::ProxyCounters::local_command), 2u);
  EXPECT_EQ(log_text().find("127.0.0.1:4000"), std::string::npos);
}

TEST_F(ProxyStageTest, ALocalConnectionThatAsksLaterGetsItsSession) {
  start("127.0.0.1:40000");
  channel_->deliver(v2_inet(0));
  channel_->deliver("small.txt\n");
  ASSERT_EQ(sessions_made_, 1);
  EXPECT_EQ(calls_, (std::vector<std::string>{"open as 127.0.0.1:40000", "receive small.txt\n"}));
  // Still the timer armed at accept.
  EXPECT_EQ(channel_->timer_calls(), std::vector<TimerKind>{TimerKind::header});
}

TEST_F(ProxyStageTest, UnknownIsServedAsTheTcpPeer) {
  start("127.0.0.1:40000");
  channel_->deliver("PROXY UNKNOWN\r\n");
  ASSERT_EQ(sessions_made_, 1);
  EXPECT_EQ(stage_->peer(), "127.0.0.1:40000");
  EXPECT_TRUE(channel_->admission_moves().empty());
  EXPECT_EQ(count(&proxy::ProxyCounters::unknown_family), 1u);
  EXPECT_NE(log_text().find("PROXY header without a client address: served as the TCP peer"),
            std::string::npos);
}

TEST_F(ProxyStageTest, ADrainBeforeTheHeaderClosesWithoutCounting) {
  start("127.0.0.1:40000");
  channel_->drain();
  EXPECT_TRUE(channel_->closed());
  EXPECT_EQ(sessions_made_, 0);
  EXPECT_EQ(refused(), 0u);
}

TEST_F(ProxyStageTest, Ipv6ClientsAreBracketed) {
  start("127.0.0.1:40000");
  channel_->deliver("PROXY TCP6 2001:db8::7 2001:db8::1 4242 80\r\n");
  EXPECT_EQ(stage_->peer(), "[2001:db8::7]:4242");
  EXPECT_EQ(channel_->admission_moves(), std::vector<std::string>{"2001:db8::7"});
  channel_->end_stream();
  // A mapped client shares the IPv4 key, as a dual-stack listener's accepts do.
  start("127.0.0.1:40001");
  channel_->deliver("PROXY TCP6 ::ffff:192.0.2.9 ::1 4242 80\r\n");
  EXPECT_EQ(stage_->peer(), "192.0.2.9:4242");
  EXPECT_EQ(channel_->admission_moves(), std::vector<std::string>{"192.0.2.9"});
}

}  // namespace
}  // namespace iocomp::server
