#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "auth/authenticator.hpp"
#include "auth/user_table.hpp"

namespace iocomp::auth {
namespace {

// All for the password "correct horse", at the lowest costs to keep the tests fast.
constexpr const char* kBcrypt = "$2y$04$NyAa3D7wOsgB7JSLpGw5se3N4mKIElbF4anWo0JHGMMlFVu2Alr4W";
constexpr const char* kYescrypt =
    "$y$j7T$24uwNfuKqi12wEBzV6OZE/$lWicE2ABqcVf8pXdg7ozPQKGFyDfpSj1F5iihntsYUC";
constexpr const char* kSha512 =
    "$6$r3.epNi4wI6o26rE$ZzVVw6qrfVRfazViu39rLX2K7d1OzHXFIs6uM0AdaPLAYNejJXyE/"
    "6.J.w13Hbpxt.FmdYX4tbaQs6YEbtc.T.";

// "Basic " + base64("<user>:<password>") for the pairs used below.
constexpr const char* kAliceRight = "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==";   // alice:correct horse
constexpr const char* kBobRight = "Basic Ym9iOmNvcnJlY3QgaG9yc2U=";         // bob:correct horse
constexpr const char* kCarolRight = "Basic Y2Fyb2w6Y29ycmVjdCBob3JzZQ==";   // carol:correct horse
constexpr const char* kAliceWrong = "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==x";  // malformed
constexpr const char* kAliceBadPassword = "Basic YWxpY2U6aW5jb3JyZWN0";     // alice:incorrect
constexpr const char* kMalloryRight =
    "Basic bWFsbG9yeTpjb3JyZWN0IGhvcnNl";  // mallory:correct horse

std::string table_text() {
  return std::string("# users\n\nalice:") + kBcrypt + "\nbob:" + kYescrypt +
         "\r\n  carol:" + kSha512 + "  \n";
}

std::string parse_error(const std::string& text) {
  try {
    UserTable::parse(text, "users.txt");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(UserTable, ParsesUsersCommentsBlankLinesAndCrlf) {
  const UserTable table = UserTable::parse(table_text(), "users.txt");
  EXPECT_EQ(table.size(), 3u);
  ASSERT_NE(table.find("alice"), nullptr);
  EXPECT_EQ(*table.find("alice"), kBcrypt);
  ASSERT_NE(table.find("bob"), nullptr);
  EXPECT_EQ(*table.find("bob"), kYescrypt);
  ASSERT_NE(table.find("carol"), nullptr);
  EXPECT_EQ(*table.find("carol"), kSha512);
  EXPECT_EQ(table.find("Alice"), nullptr);
  EXPECT_EQ(table.find("# users"), nullptr);
  EXPECT_EQ(table.decoy_hash(), kBcrypt);
}

TEST(UserTable, PlainTextPasswordIsRefusedWithTheLineNumberButNotTheSecret) {
  const std::string error =
      parse_error(std::string("# c\nalice:") + kBcrypt + "\nbob:hunter2secret\n");
  EXPECT_NE(error.find("users.txt line 3"), std::string::npos) << error;
  EXPECT_NE(error.find("plain-text"), std::string::npos) << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
}

TEST(UserTable, BadLinesAreRefusedWithTheirLineNumber) {
  const std::string good = std::string("alice:") + kBcrypt + "\n";
  const struct {
    std::string line;
    std::string expected;
  } cases[] = {
      {"no colon here", "expected user:hash"},
      {":" + std::string(kSha512), "empty user name"},
      {"bob:", "empty hash"},
      {"bob:abcdefghijklm", "legacy"},                  // 13 characters: a DES hash, or a password
      {"bob:$1$abc$xyzxyzxyzxyzxyzxyzxyzx", "legacy"},  // md5crypt
      {"bob:$apr1$CaOW1Z/J$MfWP4TX61V9nlv0wIEhac/", "$apr1$"},
      {"bob:$6$", "incomplete"},
      {"bob:$y$j7T$24uwNfuKqi12wEBzV6OZE/$lWicE2ABqcVf8pX", "incomplete"},
      {"alice:" + std::string(kSha512), "user listed twice"},
  };
  for (const auto& c : cases) {
    const std::string error = parse_error(good + "\n" + c.line + "\n");
    EXPECT_NE(error.find("users.txt line 3: "), std::string::npos) << c.line << ": " << error;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.line << ": " << error;
  }
}

TEST(UserTable, AFileWithoutUsersIsRefused) {
  EXPECT_NE(parse_error("# nobody\n\n").find("no user:hash lines"), std::string::npos);
  EXPECT_NE(parse_error("").find("no user:hash lines"), std::string::npos);
}

TEST(UserTable, LoadFileReportsModeAndMissingFile) {
  char path[] = "/tmp/iocomp-auth-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = table_text();
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  ::chmod(path, 0600);
  LoadedUsers loaded = load_auth_file(path);
  EXPECT_EQ(loaded.users.size(), 3u);
  EXPECT_FALSE(loaded.readable_by_others);
  ::chmod(path, 0644);
  EXPECT_TRUE(load_auth_file(path).readable_by_others);
  ::unlink(path);
  try {
    load_auth_file(path);
    ADD_FAILURE() << "a missing file loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest() : users_(UserTable::parse(table_text(), "users.txt")) {}
  UserTable users_;
};

TEST_F(AuthenticatorTest, VerifiesBcryptYescryptAndSha512) {
  Authenticator auth(users_);
  for (const char* value : {kAliceRight, kBobRight, kCarolRight}) {
    const Verdict v = auth.check(value, 0);
    EXPECT_EQ(v.outcome, Outcome::ok) << value;
  }
  EXPECT_EQ(auth.check(kAliceRight, 0).user, "alice");
  EXPECT_EQ(auth.check(kBobRight, 0).user, "bob");
  EXPECT_EQ(auth.check(kCarolRight, 0).user, "carol");
}

TEST_F(AuthenticatorTest, Refusals) {
  Authenticator auth(users_);
  EXPECT_EQ(auth.check("", 0).outcome, Outcome::missing);
  EXPECT_EQ(auth.check(kAliceWrong, 0).outcome, Outcome::malformed);
  EXPECT_EQ(auth.check("Bearer abc", 0).outcome, Outcome::malformed);
  const Verdict wrong = auth.check(kAliceBadPassword, 0);
  EXPECT_EQ(wrong.outcome, Outcome::wrong_password);
  EXPECT_EQ(wrong.user, "alice");
  const Verdict unknown = auth.check(kMalloryRight, 0);
  EXPECT_EQ(unknown.outcome, Outcome::unknown_user);
  EXPECT_EQ(unknown.user, "mallory");
}

TEST_F(AuthenticatorTest, UnknownUserCostsOneCryptLikeAWrongPassword) {
  Authenticator auth(users_);
  auth.check(kMalloryRight, 0);
  EXPECT_EQ(auth.crypt_runs(), 1u);
  auth.check(kAliceBadPassword, 0);
  EXPECT_EQ(auth.crypt_runs(), 2u);
  // Malformed values never reach crypt.
  auth.check(kAliceWrong, 0);
  auth.check("", 0);
  EXPECT_EQ(auth.crypt_runs(), 2u);
}

TEST_F(AuthenticatorTest, SuccessIsCachedUntilItExpires) {
  Authenticator auth(users_, CacheLimits{4, 1000});
  EXPECT_EQ(auth.check(kAliceRight, 0).outcome, Outcome::ok);
  EXPECT_EQ(auth.crypt_runs(), 1u);
  for (int i = 0; i < 10; ++i) {
    const Verdict v = auth.check(kAliceRight, 999);
    EXPECT_EQ(v.outcome, Outcome::ok);
    EXPECT_EQ(v.user, "alice");
  }
  // The scheme's case and spacing do not matter: the credentials are the same.
  EXPECT_EQ(auth.check("basic  YWxpY2U6Y29ycmVjdCBob3JzZQ==", 999).outcome, Outcome::ok);
  EXPECT_EQ(auth.crypt_runs(), 1u);
  EXPECT_EQ(auth.check(kAliceRight, 1000).outcome, Outcome::ok);  // expired: checked again
  EXPECT_EQ(auth.crypt_runs(), 2u);
}

TEST_F(AuthenticatorTest, FailuresAreNotCached) {
  Authenticator auth(users_);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth.check(kAliceBadPassword, 0).outcome, Outcome::wrong_password);
    EXPECT_EQ(auth.check(kMalloryRight, 0).outcome, Outcome::unknown_user);
  }
  EXPECT_EQ(auth.crypt_runs(), 6u);
}

TEST_F(AuthenticatorTest, CacheIsBoundedAndEvictsTheOldest) {
  Authenticator auth(users_, CacheLimits{2, 60'000});
  auth.check(kAliceRight, 0);
  auth.check(kBobRight, 10);
  auth.check(kCarolRight, 20);  // evicts alice, the oldest
  EXPECT_EQ(auth.crypt_runs(), 3u);
  auth.check(kBobRight, 30);
  auth.check(kCarolRight, 30);
  EXPECT_EQ(auth.crypt_runs(), 3u);
  auth.check(kAliceRight, 40);  // evicts bob
  EXPECT_EQ(auth.crypt_runs(), 4u);
  auth.check(kBobRight, 50);
  EXPECT_EQ(auth.crypt_runs(), 5u);
}

TEST_F(AuthenticatorTest, ZeroEntriesDisablesTheCache) {
  Authenticator auth(users_, CacheLimits{0, 60'000});
  auth.check(kAliceRight, 0);
  auth.check(kAliceRight, 0);
  EXPECT_EQ(auth.crypt_runs(), 2u);
}

}  // namespace
}  // namespace iocomp::auth
