// proxy::CidrList (--proxy-from) and the address helpers the PROXY stage compares with.
#include "proxy/cidr.hpp"

#include <arpa/inet.h>

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "proxy/ip_address.hpp"

namespace iocomp::proxy {
namespace {

IpAddress ip(const char* text) {
  const std::optional<IpAddress> parsed = ip_of_peer_text(
      std::string(text).find(':') != std::string::npos ? "[" + std::string(text) + "]:1"
                                                       : std::string(text) + ":1");
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

CidrList list(const std::string& text) {
  std::string error;
  std::optional<CidrList> parsed = CidrList::parse(text, error);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << error;
  return parsed.value_or(CidrList{});
}

std::string refusal(const std::string& text) {
  std::string error;
  EXPECT_FALSE(CidrList::parse(text, error).has_value()) << text;
  return error;
}

TEST(CidrList, TheDefaultIsLoopback) {
  const CidrList loopback = list("127.0.0.0/8,::1/128");  // ServerConfig::proxy_from
  EXPECT_TRUE(loopback.contains(ip("127.0.0.1")));
  EXPECT_TRUE(loopback.contains(ip("127.255.0.55")));
  EXPECT_TRUE(loopback.contains(ip("::1")));
  EXPECT_TRUE(loopback.contains(ip("::ffff:127.0.0.1")));  // a dual-stack socket's view
  EXPECT_FALSE(loopback.contains(ip("128.0.0.1")));
  EXPECT_FALSE(loopback.contains(ip("10.0.0.1")));
  EXPECT_FALSE(loopback.contains(ip("::2")));
  EXPECT_FALSE(loopback.contains(ip("::127.0.0.1")));  // IPv4-compatible, not mapped
  EXPECT_EQ(loopback.to_string(), "127.0.0.0/8, ::1/128");
}

TEST(CidrList, PrefixesCutAnywhereInAByte) {
  const CidrList l = list("10.1.2.128/25, 2001:db8:f000::/36");
  EXPECT_TRUE(l.contains(ip("10.1.2.128")));
  EXPECT_TRUE(l.contains(ip("10.1.2.255")));
  EXPECT_FALSE(l.contains(ip("10.1.2.127")));
  EXPECT_TRUE(l.contains(ip("2001:db8:ffff::1")));
  EXPECT_TRUE(l.contains(ip("2001:db8:f000::")));
  EXPECT_FALSE(l.contains(ip("2001:db8:e000::1")));
}

TEST(CidrList, AnAddressAloneIsOneHost) {
  const CidrList l = list("192.0.2.7,2001:db8::1");
  EXPECT_TRUE(l.contains(ip("192.0.2.7")));
  EXPECT_FALSE(l.contains(ip("192.0.2.6")));
  EXPECT_TRUE(l.contains(ip("2001:db8::1")));
  EXPECT_FALSE(l.contains(ip("2001:db8::2")));
  EXPECT_EQ(l.to_string(), "192.0.2.7/32, 2001:db8::1/128");
}

TEST(CidrList, ZeroPrefixesMatchTheirWholeFamily) {
  const CidrList v4 = list("0.0.0.0/0");
  EXPECT_TRUE(v4.contains(ip("203.0.113.9")));
  EXPECT_FALSE(v4.contains(ip("2001:db8::1")));
  const CidrList any = list("::/0");
  EXPECT_TRUE(any.contains(ip("2001:db8::1")));
  EXPECT_TRUE(any.contains(ip("203.0.113.9")));  // as ::ffff:203.0.113.9
}

TEST(CidrList, AMappedIpv6BlockMatchesIpv4Clients) {
  const CidrList l = list("::ffff:10.0.0.0/104");
  EXPECT_TRUE(l.contains(ip("10.200.1.1")));
  EXPECT_FALSE(l.contains(ip("11.0.0.1")));
}

TEST(CidrList, MistakesAreRefusedWithTheEntryNamed) {
  EXPECT_EQ(refusal(""), "empty entry in the address list");
  EXPECT_EQ(refusal("10.0.0.0/8,"), "empty entry in the address list");
  EXPECT_EQ(refusal("10.0.0.0/8,,::1"), "empty entry in the address list");
  EXPECT_EQ(refusal("localhost"), "'localhost': not an IPv4 or IPv6 address");
  EXPECT_EQ(refusal("10.0.0/8"), "'10.0.0/8': not an IPv4 or IPv6 address");
  EXPECT_EQ(refusal("010.0.0.0/8"), "'010.0.0.0/8': not an IPv4 or IPv6 address");
  EXPECT_EQ(refusal("10.0.0.0/33"), "'10.0.0.0/33': the prefix length must be 0 to 32");
  EXPECT_EQ(refusal("::/129"), "'::/129': the prefix length must be 0 to 128");
  EXPECT_EQ(refusal("10.0.0.0/"), "'10.0.0.0/': the prefix length must be 0 to 32");
  EXPECT_EQ(refusal("10.0.0.0/08"), "'10.0.0.0/08': the prefix length must be 0 to 32");
  EXPECT_EQ(refusal("10.0.0.0/+8"), "'10.0.0.0/+8': the prefix length must be 0 to 32");
  EXPECT_EQ(refusal("10.0.0.0/8/8"), "'10.0.0.0/8/8': the prefix length must be 0 to 32");
  EXPECT_EQ(refusal("10.0.0.1/8"), "'10.0.0.1/8': address bits set beyond the /8 prefix");
  EXPECT_EQ(refusal("2001:db8::1/32"), "'2001:db8::1/32': address bits set beyond the /32 prefix");
  EXPECT_EQ(refusal("fe80::1%eth0"), "'fe80::1%eth0': not an IPv4 or IPv6 address");
}

TEST(IpAddress, PeerTextAsChannelsShowIt) {
  EXPECT_EQ(ip_of_peer_text("10.0.0.1:80"), ip("10.0.0.1"));
  EXPECT_EQ(ip_of_peer_text("[::1]:80"), ip("::1"));
  EXPECT_FALSE(ip_of_peer_text("unknown").has_value());
  EXPECT_FALSE(ip_of_peer_text("::1:80").has_value());  // IPv6 is bracketed
  EXPECT_FALSE(ip_of_peer_text("[10.0.0.1]:80").has_value());
  EXPECT_FALSE(ip_of_peer_text("[::1:80").has_value());
  EXPECT_FALSE(ip_of_peer_text("").has_value());
}

TEST(IpAddress, SocketAddressesOfEitherFamilyAndMappedOnesAgree) {
  sockaddr_storage v4{};
  auto& in = reinterpret_cast<sockaddr_in&>(v4);
  in.sin_family = AF_INET;
  ::inet_pton(AF_INET, "198.51.100.4", &in.sin_addr);
  sockaddr_storage v6{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(v6);
  in6.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, "::ffff:198.51.100.4", &in6.sin6_addr);
  ASSERT_TRUE(ip_of(v4).has_value());
  EXPECT_EQ(ip_of(v4), ip_of(v6));
  EXPECT_EQ(ip_of(v4), ip("198.51.100.4"));
  sockaddr_storage other{};
  other.ss_family = AF_UNIX;
  EXPECT_FALSE(ip_of(other).has_value());
}

}  // namespace
}  // namespace iocomp::proxy
