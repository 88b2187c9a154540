#include "core/admission.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace iocomp::core {
namespace {

sockaddr_storage ipv4(const char* text, std::uint16_t port) {
  sockaddr_storage storage{};
  auto& in = reinterpret_cast<sockaddr_in&>(storage);
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  EXPECT_EQ(::inet_pton(AF_INET, text, &in.sin_addr), 1);
  return storage;
}

sockaddr_storage ipv6(const char* text, std::uint16_t port) {
  sockaddr_storage storage{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(storage);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  EXPECT_EQ(::inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
  return storage;
}

TEST(AdmissionControl, CapsTheTotalAndFreesASlotOnRelease) {
  AdmissionControl admission({2, 0});
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.2"), Admission::admitted);
  EXPECT_EQ(admission.connections(), 2u);
  EXPECT_EQ(admission.admit("10.0.0.3"), Admission::too_many_connections);
  EXPECT_EQ(admission.connections(), 2u);  // a refusal takes no slot
  admission.release("10.0.0.1");
  EXPECT_EQ(admission.connections(), 1u);
  EXPECT_EQ(admission.admit("10.0.0.3"), Admission::admitted);
}

TEST(AdmissionControl, CapsEachAddressSeparately) {
  AdmissionControl admission({100, 2});
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::too_many_from_address);
  EXPECT_EQ(admission.admit("10.0.0.2"), Admission::admitted);
  EXPECT_EQ(admission.connections(), 3u);
  admission.release("10.0.0.1");
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::too_many_from_address);
}

TEST(AdmissionControl, AnAddressReleasedToZeroStartsAgain) {
  AdmissionControl admission({100, 1});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(admission.admit("::1"), Admission::admitted);
    EXPECT_EQ(admission.admit("::1"), Admission::too_many_from_address);
    admission.release("::1");
  }
  EXPECT_EQ(admission.connections(), 0u);
}

TEST(AdmissionControl, TheTotalIsCheckedFirst) {
  AdmissionControl admission({1, 1});
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.1"), Admission::too_many_connections);
  EXPECT_EQ(admission.admit("10.0.0.2"), Admission::too_many_connections);
}

TEST(AdmissionControl, ZeroPerAddressMeansNoPerAddressLimit) {
  AdmissionControl admission({1000, 0});
  for (int i = 0; i < 500; ++i) ASSERT_EQ(admission.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(admission.connections(), 500u);
}

TEST(AdmissionControl, RekeyMovesOneSlotUnderTheNewAddressLimit) {
  // A balancer's connections learn their clients from PROXY headers.
  AdmissionControl admission({100, 2});
  ASSERT_EQ(admission.admit("10.0.0.9"), Admission::admitted);
  ASSERT_EQ(admission.admit("10.0.0.9"), Admission::admitted);
  ASSERT_EQ(admission.admit("10.0.0.9"), Admission::too_many_from_address);
  EXPECT_EQ(admission.rekey("10.0.0.9", "203.0.113.7"), Admission::admitted);
  EXPECT_EQ(admission.connections(), 2u);  // the total is unchanged
  // The balancer's key has a free slot again; the client's has one taken.
  EXPECT_EQ(admission.admit("10.0.0.9"), Admission::admitted);
  EXPECT_EQ(admission.rekey("10.0.0.9", "203.0.113.7"), Admission::admitted);
  // A third connection of that client is refused and keeps its balancer slot.
  EXPECT_EQ(admission.rekey("10.0.0.9", "203.0.113.7"), Admission::too_many_from_address);
  EXPECT_EQ(admission.admit("10.0.0.9"), Admission::admitted);
  EXPECT_EQ(admission.admit("10.0.0.9"), Admission::too_many_from_address);
  EXPECT_EQ(admission.connections(), 4u);
  admission.release("10.0.0.9");
  admission.release("10.0.0.9");
  admission.release("203.0.113.7");
  EXPECT_EQ(admission.admit("203.0.113.7"), Admission::admitted);
  EXPECT_EQ(admission.admit("203.0.113.7"), Admission::too_many_from_address);
  admission.release("203.0.113.7");
  admission.release("203.0.113.7");
  EXPECT_EQ(admission.connections(), 0u);
  EXPECT_EQ(admission.admit("203.0.113.7"), Admission::admitted);
  EXPECT_EQ(admission.admit("203.0.113.7"), Admission::admitted);
}

TEST(AdmissionControl, RekeyToTheSameKeyOrWithoutAPerAddressLimitAlwaysSucceeds) {
  AdmissionControl limited({100, 1});
  ASSERT_EQ(limited.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(limited.rekey("10.0.0.1", "10.0.0.1"), Admission::admitted);
  EXPECT_EQ(limited.admit("10.0.0.1"), Admission::too_many_from_address);
  AdmissionControl unlimited({100, 0});
  ASSERT_EQ(unlimited.admit("10.0.0.1"), Admission::admitted);
  EXPECT_EQ(unlimited.rekey("10.0.0.1", "10.0.0.2"), Admission::admitted);
  EXPECT_EQ(unlimited.connections(), 1u);
}

TEST(AdmissionControl, AddressKeyOfIpv4IgnoresThePort) {
  EXPECT_EQ(AdmissionControl::address_key(ipv4("192.0.2.7", 50123)), "192.0.2.7");
  EXPECT_EQ(AdmissionControl::address_key(ipv4("192.0.2.7", 1)), "192.0.2.7");
}

TEST(AdmissionControl, AddressKeyOfIpv6IsItsShortText) {
  EXPECT_EQ(AdmissionControl::address_key(ipv6("2001:db8:0:0::1", 443)), "2001:db8::1");
  EXPECT_EQ(AdmissionControl::address_key(ipv6("::1", 8182)), "::1");
}

TEST(AdmissionControl, AddressKeyOfV4MappedIpv6IsTheIpv4Address) {
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: they share the IPv4 key.
  EXPECT_EQ(AdmissionControl::address_key(ipv6("::ffff:192.0.2.7", 50123)), "192.0.2.7");
}

}  // namespace
}  // namespace iocomp::core
