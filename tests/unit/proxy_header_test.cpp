// proxy::parse_header: every verdict of the v1 and v2 parsers, and the promise that a verdict
// reached on a prefix holds for any longer input.
#include "proxy/proxy_header.hpp"

#include <arpa/inet.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iocomp::proxy {
namespace {

using namespace std::string_literals;

const std::string kV2Sig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string ip_text(const sockaddr_storage& s) {
  char text[INET6_ADDRSTRLEN] = {};
  if (s.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(s).sin_addr, text, sizeof text);
  } else if (s.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(s).sin6_addr, text, sizeof text);
  }
  return text;
}

int port_of(const sockaddr_storage& s) {
  return ntohs(s.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(s).sin_port
                                      : reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
}

// A v2 header: version/command byte, family byte, then `block` (addresses and TLVs), with the
// length field computed unless given.
std::string v2(std::uint8_t ver_cmd, std::uint8_t family, const std::string& block,
               int length = -1) {
  const auto n = static_cast<std::uint16_t>(length < 0 ? block.size() : length);
  std::string out = kV2Sig;
  out.push_back(static_cast<char>(ver_cmd));
  out.push_back(static_cast<char>(family));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n & 0xff));
  return out + block;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// 192.0.2.1:4242 -> 198.51.100.2:443
const std::string kInetBlock = bytes({192, 0, 2, 1, 198, 51, 100, 2, 0x10, 0x92, 0x01, 0xbb});

std::string inet6_block() {
  std::string out;
  in6_addr a{};
  ::inet_pton(AF_INET6, "2001:db8::7", &a);
  out.append(reinterpret_cast<const char*>(&a), 16);
  ::inet_pton(AF_INET6, "2001:db8::1", &a);
  out.append(reinterpret_cast<const char*>(&a), 16);
  return out + bytes({0x30, 0x39, 0x00, 0x50});  // 12345 -> 80
}

std::string tlv(std::uint8_t type, const std::string& value) {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(value.size() >> 8));
  out.push_back(static_cast<char>(value.size() & 0xff));
  return out + value;
}

// Every proper prefix of `input` must be need_more (it is a header in the making).
void expect_prefixes_need_more(const std::string& input) {
  for (std::size_t n = 0; n < input.size(); ++n) {
    EXPECT_EQ(parse_header(input.substr(0, n)).status, Status::need_more)
        << "prefix of " << n << " bytes of " << testing::PrintToString(input);
  }
}

// The verdict on the shortest decisive prefix of `input` is the verdict on `input` itself.
void expect_decided_early(const std::string& input, std::size_t decided_at, Status status) {
  EXPECT_EQ(parse_header(input.substr(0, decided_at)).status, status)
      << testing::PrintToString(input.substr(0, decided_at));
  EXPECT_EQ(parse_header(input).status, status) << testing::PrintToString(input);
}

// ---------------------------------------------------------------------------------- v1

TEST(ProxyHeaderV1, Tcp4GivesBothEndpointsAndConsumesOnlyTheLine) {
  const std::string line = "PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\n";
  const Header h = parse_header(line + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.consumed, line.size());
  EXPECT_EQ(h.command, Command::proxy);
  EXPECT_EQ(h.family, Family::inet);
  EXPECT_EQ(h.source.ss_family, AF_INET);
  EXPECT_EQ(ip_text(h.source), "203.0.113.7");
  EXPECT_EQ(port_of(h.source), 4242);
  EXPECT_EQ(ip_text(h.destination), "10.0.0.1");
  EXPECT_EQ(port_of(h.destination), 80);
  expect_prefixes_need_more(line);
}

TEST(ProxyHeaderV1, Tcp6IncludingAnIpv4MappedAddress) {
  Header h = parse_header("PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n");
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.family, Family::inet6);
  EXPECT_EQ(h.source.ss_family, AF_INET6);
  EXPECT_EQ(ip_text(h.source), "2001:db8::7");
  EXPECT_EQ(port_of(h.source), 65535);
  EXPECT_EQ(port_of(h.destination), 0);
  h = parse_header("PROXY TCP6 ::ffff:198.51.100.9 ::1 1 2\r\n");
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(ip_text(h.source), "::ffff:198.51.100.9");
}

TEST(ProxyHeaderV1, UnknownIgnoresWhateverFollowsUpToTheCrlf) {
  for (const std::string& line :
       {"PROXY UNKNOWN\r\n"s, "PROXY UNKNOWN 1.2.3.4 x y z\r\n"s, "PROXY UNKNOWN \x01\xff\r\n"s}) {
    const Header h = parse_header(line + "name\n");
    ASSERT_EQ(h.status, Status::complete) << testing::PrintToString(line);
    EXPECT_EQ(h.family, Family::unknown);
    EXPECT_EQ(h.command, Command::proxy);
    EXPECT_EQ(h.consumed, line.size());
  }
  expect_decided_early("PROXY UNKNOWNX\r\n", 14, Status::invalid);
  EXPECT_EQ(parse_header("PROXY UNKNOWN\r").status, Status::need_more);
}

TEST(ProxyHeaderV1, At107BytesTheLineMustHaveEnded) {
  const std::string longest = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), kV1MaxBytes);
  EXPECT_EQ(parse_header(longest).status, Status::complete);
  const std::string too_long = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  expect_decided_early(too_long, kV1MaxBytes, Status::invalid);
  EXPECT_EQ(parse_header(too_long).error, "PROXY v1: no CRLF within 107 bytes");
  // An IPv6 line with embedded IPv4 tails can be longer than the spec's 107: refused.
  const std::string v6 =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n";
  EXPECT_EQ(parse_header(v6).status, Status::invalid);
}

TEST(ProxyHeaderV1, LineEndsOtherThanCrlfAreRefused) {
  EXPECT_EQ(parse_header("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").error, "PROXY v1: LF without CR");
  expect_decided_early("PROXY TCP4 1.2.3.4\rX 5.6.7.8 1 2\r\n", 20, Status::invalid);
  EXPECT_EQ(parse_header("PROXY UNKNOWN a\rb").error, "PROXY v1: CR without LF");
  EXPECT_EQ(parse_header("PROXY UNKNOWN a\rb\r\n").error, "PROXY v1: CR without LF");
}

TEST(ProxyHeaderV1, UnknownProtocolWordsAreRefusedAsSoonAsTheyDiffer) {
  expect_decided_early("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10, Status::invalid);
  expect_decided_early("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 7, Status::invalid);
  // "U" could still be UNKNOWN: "UD" cannot.
  EXPECT_EQ(parse_header("PROXY U").status, Status::need_more);
  expect_decided_early("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 8, Status::invalid);
  expect_decided_early("PROXY TCP4\r\n", 11, Status::invalid);
  EXPECT_EQ(parse_header("PROXY TCP4\r\n").error, "PROXY v1: unknown protocol");
  EXPECT_EQ(parse_header("PROXY \r\n").status, Status::invalid);
}

TEST(ProxyHeaderV1, BytesThatNoAddressHoldsAreRefusedBeforeTheLineEnds) {
  expect_decided_early("PROXY TCP4 1.2.3.4x 5.6.7.8 1 2\r\n", 19, Status::invalid);
  expect_decided_early("PROXY TCP6 ::1%eth0 ::1 1 2\r\n", 15, Status::invalid);
  EXPECT_EQ(parse_header("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n").status, Status::invalid);
}

TEST(ProxyHeaderV1, FieldsAreExactlyFourSeparatedBySingleSpaces) {
  for (const char* line :
       {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 \r\n"}) {
    EXPECT_EQ(parse_header(line).error,
              "PROXY v1: expected source, destination, source port, destination port")
        << line;
  }
}

TEST(ProxyHeaderV1, PortsAreDecimalWithoutLeadingZeros) {
  const auto with_ports = [](const std::string& sport, const std::string& dport) {
    return parse_header("PROXY TCP4 1.2.3.4 5.6.7.8 " + sport + " " + dport + "\r\n");
  };
  EXPECT_EQ(with_ports("0", "65535").status, Status::complete);
  for (const char* bad : {"65536", "99999", "123456", "01", "00", "8a", "ff"}) {
    EXPECT_EQ(with_ports(bad, "80").error, "PROXY v1: bad port") << bad;
    EXPECT_EQ(with_ports("80", bad).error, "PROXY v1: bad port") << bad;
  }
}

TEST(ProxyHeaderV1, Ipv4AddressesAreStrictDottedQuads) {
  const auto with_source = [](const std::string& ip) {
    return parse_header("PROXY TCP4 " + ip + " 5.6.7.8 1 2\r\n");
  };
  EXPECT_EQ(with_source("0.0.0.0").status, Status::complete);
  EXPECT_EQ(with_source("255.255.255.255").status, Status::complete);
  for (const char* bad : {"256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.00", "1..3.4",
                          ".1.2.3", "1.2.3.", "1234.1.1.1", "::1", "a.b.c.d", "1.2.3.4:"}) {
    EXPECT_EQ(with_source(bad).error, "PROXY v1: bad IPv4 address") << bad;
  }
  EXPECT_EQ(parse_header("PROXY TCP4 1.2.3.4 ::1 1 2\r\n").error, "PROXY v1: bad IPv4 address");
}

TEST(ProxyHeaderV1, Ipv6AddressesMustParse) {
  for (const char* bad : {"1.2.3.4", "2001:db8:::1", "12345::1", ":::", "g::1"}) {
    EXPECT_EQ(parse_header("PROXY TCP6 " + std::string(bad) + " ::1 1 2\r\n").error,
              "PROXY v1: bad IPv6 address")
        << bad;
  }
  EXPECT_EQ(parse_header("PROXY TCP6 ::1 " + std::string(46, '1') + " 1 2\r\n").error,
            "PROXY v1: bad IPv6 address");
}

// ---------------------------------------------------------------------------------- first bytes

TEST(ProxyHeader, NothingYetIsNeedMore) {
  EXPECT_EQ(parse_header("").status, Status::need_more);
  EXPECT_EQ(parse_header("P").status, Status::need_more);
  EXPECT_EQ(parse_header("\r").status, Status::need_more);
}

TEST(ProxyHeader, ARequestWithoutHeaderIsRefusedAtItsFirstByte) {
  // The byte count at which each differs from both signatures.
  const std::pair<std::string, std::size_t> requests[] = {
      {"GET / HTTP/1.1\r\n", 1}, {"file.txt\n", 1}, {"\n", 1}, {"PUT x", 2}, {"\r\r", 2}};
  for (const auto& [input, differs] : requests) {
    expect_decided_early(input, differs, Status::invalid);
    EXPECT_EQ(parse_header(input).error, "no header: the first bytes are not a PROXY header");
  }
  expect_decided_early("PROXY\r\n", 6, Status::invalid);  // "PROXY" + not a space
  expect_decided_early("PROXz TCP4", 5, Status::invalid);
  expect_decided_early(kV2Sig.substr(0, 11) + "X", 12, Status::invalid);
}

// ---------------------------------------------------------------------------------- v2

TEST(ProxyHeaderV2, InetProxyGivesBothEndpointsAndConsumesOnlyTheHeader) {
  const std::string header = v2(0x21, 0x11, kInetBlock);
  const Header h = parse_header(header + "name\n");
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.consumed, header.size());
  EXPECT_EQ(h.command, Command::proxy);
  EXPECT_EQ(h.family, Family::inet);
  EXPECT_EQ(ip_text(h.source), "192.0.2.1");
  EXPECT_EQ(port_of(h.source), 4242);
  EXPECT_EQ(ip_text(h.destination), "198.51.100.2");
  EXPECT_EQ(port_of(h.destination), 443);
  expect_prefixes_need_more(header);
}

TEST(ProxyHeaderV2, Inet6Proxy) {
  const std::string header = v2(0x21, 0x21, inet6_block());
  const Header h = parse_header(header);
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.family, Family::inet6);
  EXPECT_EQ(h.source.ss_family, AF_INET6);
  EXPECT_EQ(ip_text(h.source), "2001:db8::7");
  EXPECT_EQ(port_of(h.source), 12345);
  EXPECT_EQ(ip_text(h.destination), "2001:db8::1");
  EXPECT_EQ(port_of(h.destination), 80);
  expect_prefixes_need_more(header);
}

TEST(ProxyHeaderV2, TlvsAfterTheAddressesAreSkipped) {
  const std::string header =
      v2(0x21, 0x11, kInetBlock + tlv(0x01, "h2") + tlv(0x04, "") + tlv(0x05, "unique-id"));
  const Header h = parse_header(header + "GET");
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.consumed, header.size());
  EXPECT_EQ(ip_text(h.source), "192.0.2.1");
}

TEST(ProxyHeaderV2, MalformedTlvsAreRefused) {
  EXPECT_EQ(parse_header(v2(0x21, 0x11, kInetBlock + "\x01\x00"s)).error,
            "PROXY v2: malformed TLV");
  EXPECT_EQ(parse_header(v2(0x21, 0x11, kInetBlock + tlv(0x01, "abc").substr(0, 5))).error,
            "PROXY v2: malformed TLV");
  EXPECT_EQ(parse_header(v2(0x21, 0x21, inet6_block() + "\x01\x00\x05xx"s)).error,
            "PROXY v2: malformed TLV");
}

TEST(ProxyHeaderV2, LocalUsesTheRealPeerWhateverTheBlockHolds) {
  for (const std::string& header :
       {v2(0x20, 0x00, ""), v2(0x20, 0x11, kInetBlock), v2(0x20, 0x12, kInetBlock),
        v2(0x20, 0x99, "\x01\x02\x03"s), v2(0x20, 0x00, "\x01\xff"s)}) {
    const Header h = parse_header(header + "x");
    ASSERT_EQ(h.status, Status::complete) << h.error;
    EXPECT_EQ(h.command, Command::local);
    EXPECT_EQ(h.family, Family::unknown);
    EXPECT_EQ(h.consumed, header.size());
  }
  expect_prefixes_need_more(v2(0x20, 0x00, ""));
}

TEST(ProxyHeaderV2, ProxyWithoutAUsableAddressUsesTheRealPeer) {
  // UNSPEC: whatever the block holds is ignored.
  Header h = parse_header(v2(0x21, 0x00, "\x01\x02"s));
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.command, Command::proxy);
  EXPECT_EQ(h.family, Family::unknown);
  // AF_UNIX stream: two 108-byte paths.
  h = parse_header(v2(0x21, 0x31, std::string(216, '\0') + tlv(0x02, "host")));
  ASSERT_EQ(h.status, Status::complete) << h.error;
  EXPECT_EQ(h.family, Family::unknown);
  EXPECT_EQ(parse_header(v2(0x21, 0x31, std::string(215, '\0'))).error,
            "PROXY v2: too short for its addresses");
}

TEST(ProxyHeaderV2, DatagramsAndUnknownFamiliesAreRefusedAtTheirByte) {
  for (const int family : {0x12, 0x22, 0x32}) {
    const std::string header = v2(0x21, static_cast<std::uint8_t>(family), kInetBlock);
    expect_decided_early(header, 14, Status::invalid);
    EXPECT_EQ(parse_header(header).error, "PROXY v2: datagram transport on a stream connection");
  }
  for (const int family : {0x01, 0x10, 0x13, 0x20, 0x41, 0xff}) {
    const std::string header = v2(0x21, static_cast<std::uint8_t>(family), kInetBlock);
    expect_decided_early(header, 14, Status::invalid);
    EXPECT_EQ(parse_header(header).error, "PROXY v2: unknown address family or transport");
  }
}

TEST(ProxyHeaderV2, VersionAndCommandAreCheckedAtTheirByte) {
  for (const int ver_cmd : {0x11, 0x31, 0x01, 0xf1}) {
    const std::string header = v2(static_cast<std::uint8_t>(ver_cmd), 0x11, kInetBlock);
    expect_decided_early(header, 13, Status::invalid);
    EXPECT_EQ(parse_header(header).error, "PROXY v2: version is not 2");
  }
  for (const int ver_cmd : {0x22, 0x2f}) {
    const std::string header = v2(static_cast<std::uint8_t>(ver_cmd), 0x11, kInetBlock);
    expect_decided_early(header, 13, Status::invalid);
    EXPECT_EQ(parse_header(header).error, "PROXY v2: unknown command");
  }
}

TEST(ProxyHeaderV2, LengthShorterThanTheAddressesIsRefusedWhenRead) {
  std::string header = v2(0x21, 0x11, kInetBlock.substr(0, 11));
  expect_decided_early(header, 16, Status::invalid);
  EXPECT_EQ(parse_header(header).error, "PROXY v2: too short for its addresses");
  header = v2(0x21, 0x21, inet6_block().substr(0, 35));
  EXPECT_EQ(parse_header(header).error, "PROXY v2: too short for its addresses");
}

TEST(ProxyHeaderV2, TheWholeHeaderIsCappedAndTheCapIsReadFromTheLengthField) {
  // Exactly the default cap: accepted.
  std::string padding = tlv(0x04, std::string(kDefaultMaxV2Bytes - 16 - 12 - 3, 'p'));
  std::string header = v2(0x21, 0x11, kInetBlock + padding);
  ASSERT_EQ(header.size(), kDefaultMaxV2Bytes);
  EXPECT_EQ(parse_header(header).status, Status::complete);
  // One byte over: refused from the 16 fixed bytes, without waiting for the rest.
  header = v2(0x21, 0x11, "", static_cast<int>(kDefaultMaxV2Bytes - 16 + 1));
  EXPECT_EQ(parse_header(header).error, "PROXY v2: header longer than allowed");
  EXPECT_EQ(parse_header(v2(0x20, 0x00, "", 65535)).status, Status::invalid);  // LOCAL too
  // A smaller cap.
  const Limits tight{16 + 12};
  EXPECT_EQ(parse_header(v2(0x21, 0x11, kInetBlock), tight).status, Status::complete);
  EXPECT_EQ(parse_header(v2(0x21, 0x11, kInetBlock + tlv(1, "")), tight).status, Status::invalid);
}

// ---------------------------------------------------------------------------------- prefixes

// The promise of parse_header: once some bytes are invalid or complete, every longer input that
// starts with them gets the same verdict (and `consumed`). The stage relies on it: it never
// waits for bytes that cannot change the answer.
TEST(ProxyHeader, AVerdictOnAPrefixHoldsForEveryExtension) {
  const std::vector<std::string> inputs = {
      "PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\nGET / HTTP/1.1\r\n",
      "PROXY TCP6 ::1 ::2 1 2\r\nname\n",
      "PROXY UNKNOWN whatever\r\nx",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n",
      "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
      "GET / HTTP/1.1\r\n",
      v2(0x21, 0x11, kInetBlock) + "name\n",
      v2(0x21, 0x21, inet6_block() + tlv(1, "x")) + "GET",
      v2(0x20, 0x00, "") + "xyz",
      v2(0x21, 0x12, kInetBlock),
      v2(0x21, 0x11, kInetBlock + "\x01"s) + "GET / HTTP/1.1\r\n",
      "PROXY UNKNOWN " + std::string(120, 'a') + "\r\n",
  };
  for (const std::string& input : inputs) {
    for (std::size_t n = 0; n <= input.size(); ++n) {
      const Header early = parse_header(input.substr(0, n));
      if (early.status == Status::need_more) continue;
      for (std::size_t m = n + 1; m <= input.size(); ++m) {
        const Header later = parse_header(input.substr(0, m));
        ASSERT_EQ(later.status, early.status)
            << testing::PrintToString(input.substr(0, n)) << " then " << m << " bytes";
        ASSERT_EQ(later.consumed, early.consumed);
      }
    }
  }
}

}  // namespace
}  // namespace iocomp::proxy
