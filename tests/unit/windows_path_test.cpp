// The pure rules of root confinement on Windows (fs/windows_path), run natively on Linux.
#include "fs/windows_path.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iocomp::fs::windows_path {
namespace {

NameVerdict verdict(std::string_view name) {
  std::vector<std::string_view> components;
  return check_request_name(name, components);
}

std::vector<std::string_view> components_of(std::string_view name) {
  std::vector<std::string_view> components;
  EXPECT_EQ(check_request_name(name, components), NameVerdict::ok) << name;
  return components;
}

TEST(WindowsPathTest, PlainNamesPassWithDotAndEmptyComponentsDropped) {
  EXPECT_EQ(components_of("a.txt"), (std::vector<std::string_view>{"a.txt"}));
  EXPECT_EQ(components_of("sub/./b.txt"), (std::vector<std::string_view>{"sub", "b.txt"}));
  EXPECT_EQ(components_of("sub//dir/"), (std::vector<std::string_view>{"sub", "dir"}));
  EXPECT_TRUE(components_of("").empty());
  EXPECT_TRUE(components_of(".").empty());
  // Spaces and dots inside a name, tildes without the short-name shape, non-ASCII: plain names.
  EXPECT_EQ(components_of("my file.tar.gz"), (std::vector<std::string_view>{"my file.tar.gz"}));
  EXPECT_EQ(components_of("~user/notes~.txt"),
            (std::vector<std::string_view>{"~user", "notes~.txt"}));
  EXPECT_EQ(components_of("caf\xC3\xA9.txt"), (std::vector<std::string_view>{"caf\xC3\xA9.txt"}));
  EXPECT_EQ(components_of("console.log"), (std::vector<std::string_view>{"console.log"}));
}

TEST(WindowsPathTest, DotDotIsResolvedByNameAndMayNotClimbAboveTheRoot) {
  EXPECT_EQ(components_of("sub/../a.txt"), (std::vector<std::string_view>{"a.txt"}));
  EXPECT_EQ(components_of("a/b/../c"), (std::vector<std::string_view>{"a", "c"}));
  EXPECT_TRUE(components_of("sub/..").empty());
}

TEST(WindowsPathTest, DotDotAboveTheRootAndBackslashesAreRefused) {
  EXPECT_EQ(verdict(".."), NameVerdict::forbidden);
  EXPECT_EQ(verdict("sub/../../x"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("../sub"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a/b/../../../x"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("..\\windows\\win.ini"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("sub\\..\\..\\x"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a\\b"), NameVerdict::forbidden);
}

TEST(WindowsPathTest, DrivesUncAndDevicePathsAreRefused) {
  EXPECT_EQ(verdict("C:/windows/win.ini"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("c:"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("C:windows"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("\\\\server\\share\\x"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("\\\\?\\C:\\windows"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("?/C:/windows"), NameVerdict::forbidden);  // "//?/C:/..." without the slashes
  EXPECT_EQ(verdict("\\\\.\\pipe\\x"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("./PhysicalDrive0"), NameVerdict::ok);  // a plain name beneath the root
}

TEST(WindowsPathTest, DeviceNamesInAnyCaseWithExtensionsOrSpacesAreRefused) {
  for (const char* name :
       {"CON", "con", "Nul", "PRN", "aux", "CONIN$", "conout$", "COM1", "com9", "LPT1", "lpt0",
        "nul.txt", "NUL.tar.gz", "nul .txt", "sub/com1.log", "COM\xC2\xB9", "lpt\xC2\xB3.txt"}) {
    EXPECT_EQ(verdict(name), NameVerdict::forbidden) << name;
  }
  EXPECT_TRUE(is_device_name("CoN"));
  EXPECT_TRUE(is_device_name("con  .x"));
  EXPECT_FALSE(is_device_name("COM10"));
  EXPECT_FALSE(is_device_name("COMA"));
  EXPECT_FALSE(is_device_name("nullable"));
  EXPECT_FALSE(is_device_name("CONS"));
  EXPECT_FALSE(is_device_name("xcon"));
  EXPECT_FALSE(is_device_name("COM\xC2\xB4"));
}

TEST(WindowsPathTest, StreamsTrailingDotsAndSpacesAreRefused) {
  EXPECT_EQ(verdict("a.txt:secret"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a.txt::$DATA"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("sub:stream/b.txt"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a.txt."), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a.txt "), NameVerdict::forbidden);
  EXPECT_EQ(verdict("a.txt. . "), NameVerdict::forbidden);
  EXPECT_EQ(verdict("sub./b.txt"), NameVerdict::forbidden);
  EXPECT_EQ(verdict("sub /b.txt"), NameVerdict::forbidden);
}

TEST(WindowsPathTest, WildcardsAndControlCharactersAreRefused) {
  for (const char* name : {"a*.txt", "a?.txt", "a<b", "a>b", "a|b", "a\"b", "a\tb", "a\x1f"}) {
    EXPECT_EQ(verdict(name), NameVerdict::forbidden) << name;
  }
  EXPECT_EQ(verdict(std::string_view("a\0b", 3)), NameVerdict::not_found);
}

TEST(WindowsPathTest, ShortNameShapesAreRefused) {
  for (const char* name :
       {"HTPASS~1", "htpass~1", "PROGRA~1/x.txt", "SECRE~12.TXT", "A~1.B", "sub/GITCON~1.TXT"}) {
    EXPECT_EQ(verdict(name), NameVerdict::forbidden) << name;
  }
  EXPECT_TRUE(looks_like_short_name("ABCDEF~1.TXT"));
  EXPECT_FALSE(looks_like_short_name("~1"));             // nothing before the tilde
  EXPECT_FALSE(looks_like_short_name("ABCDEFG~1"));      // 9 characters: a long name
  EXPECT_FALSE(looks_like_short_name("ABCDEF~1.TEXT"));  // a 4-character extension
  EXPECT_FALSE(looks_like_short_name("AB~1.TAR.GZ"));    // two dots
  EXPECT_FALSE(looks_like_short_name("notes~.txt"));     // no digit after the tilde
  EXPECT_FALSE(looks_like_short_name("AB~1X"));          // not only digits after it
}

TEST(WindowsPathTest, OverlongNamesAreRefused) {
  EXPECT_EQ(verdict(std::string(kMaxRelativeName + 1, 'a')), NameVerdict::name_too_long);
  EXPECT_EQ(verdict(std::string(200, 'a')), NameVerdict::ok);
}

TEST(WindowsPathTest, FinalPathMustBeTheRootOrBeneathIt) {
  const std::string_view root = "\\\\?\\C:\\srv\\files";
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\srv\\files"), std::optional<std::string_view>(""));
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\srv\\files\\a\\b.txt"),
            std::optional<std::string_view>("a\\b.txt"));
  // A reparse point leading out of the root: its final path is elsewhere.
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\Windows\\win.ini"), std::nullopt);
  EXPECT_EQ(beneath(root, "\\\\?\\D:\\srv\\files\\a"), std::nullopt);
  // A sibling whose name starts with the root's.
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\srv\\files2\\a"), std::nullopt);
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\srv"), std::nullopt);
  // The spelling is compared exactly: another case may be another directory.
  EXPECT_EQ(beneath(root, "\\\\?\\C:\\SRV\\files\\a"), std::nullopt);
  // A drive's root as the served directory.
  EXPECT_EQ(beneath("\\\\?\\Z:\\", "\\\\?\\Z:\\tmp\\a"), std::optional<std::string_view>("tmp\\a"));
  EXPECT_EQ(beneath("\\\\?\\Z:\\", "\\\\?\\Y:\\tmp\\a"), std::nullopt);
}

TEST(WindowsPathTest, HiddenComponentsOfTheFinalPathAreFound) {
  EXPECT_TRUE(has_hidden_component(".htpasswd"));
  EXPECT_TRUE(has_hidden_component("sub\\.git\\config"));
  EXPECT_FALSE(has_hidden_component("sub\\a.txt"));
  EXPECT_FALSE(has_hidden_component(""));
  EXPECT_FALSE(has_hidden_component("a.b\\c."));
}

TEST(WindowsPathTest, JoinBuildsABackslashPath) {
  EXPECT_EQ(join("\\\\?\\C:\\srv", {"a", "b.txt"}), "\\\\?\\C:\\srv\\a\\b.txt");
  EXPECT_EQ(join("\\\\?\\Z:\\", {"tmp"}), "\\\\?\\Z:\\tmp");
  EXPECT_EQ(join("\\\\?\\C:\\srv", {}), "\\\\?\\C:\\srv");
}

}  // namespace
}  // namespace iocomp::fs::windows_path
