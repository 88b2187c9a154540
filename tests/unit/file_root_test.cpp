#include "fs/file_root.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

namespace iocomp::fs {
namespace {

namespace stdfs = std::filesystem;

// <tmp>/outside/secret, <tmp>/root/{a.txt, sub/b.txt, links...}
class FileRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iocomp-fileroot-XXXXXX";
    base_ = ::mkdtemp(pattern);
    root_ = base_ / "root";
    stdfs::create_directories(root_ / "sub");
    stdfs::create_directories(base_ / "outside");
    write(root_ / "a.txt", "hello");
    write(root_ / "sub" / "b.txt", "bee");
    write(base_ / "outside" / "secret", "secret");
    stdfs::create_symlink("sub/b.txt", root_ / "inside-link");
    stdfs::create_symlink("../outside/secret", root_ / "escape-link");
    stdfs::create_symlink("/etc/passwd", root_ / "absolute-link");
    stdfs::create_directory_symlink("../outside", root_ / "escape-dir");
    ::mkfifo((root_ / "fifo").c_str(), 0600);
  }
  void TearDown() override { stdfs::remove_all(base_); }

  static void write(const stdfs::path& p, const std::string& text) { std::ofstream(p) << text; }

  FileError error_of(const FileRoot& r, std::string_view name) {
    auto result = r.open(name);
    EXPECT_TRUE(std::holds_alternative<FileError>(result)) << name << " should be refused";
    return std::holds_alternative<FileError>(result) ? std::get<FileError>(result)
                                                     : FileError::io_error;
  }

  stdfs::path base_;
  stdfs::path root_;
};

TEST_F(FileRootTest, OpensRegularFilesAndReportsMetadata) {
  const FileRoot r(root_.string());
  auto result = r.open("a.txt");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(result));
  const OpenFile& f = std::get<OpenFile>(result);
  EXPECT_TRUE(f.is_open());
  EXPECT_FALSE(f.is_directory());
  EXPECT_EQ(f.size(), 5u);
  EXPECT_NE(f.inode(), 0u);
  char buf[8] = {};
  EXPECT_EQ(::pread(f.fd(), buf, sizeof buf, 0), 5);
  EXPECT_STREQ(buf, "hello");
}

TEST_F(FileRootTest, AbsoluteNamesAreLookedUpUnderTheRoot) {
  const FileRoot r(root_.string());
  EXPECT_TRUE(std::holds_alternative<OpenFile>(r.open("/a.txt")));
  EXPECT_TRUE(std::holds_alternative<OpenFile>(r.open("//sub/b.txt")));
  EXPECT_EQ(error_of(r, "/etc/passwd"), FileError::not_found);
}

TEST_F(FileRootTest, DotDotCannotLeave) {
  const FileRoot r(root_.string());
  EXPECT_EQ(error_of(r, "../outside/secret"), FileError::forbidden);
  EXPECT_EQ(error_of(r, "sub/../../outside/secret"), FileError::forbidden);
  EXPECT_EQ(error_of(r, ".."), FileError::forbidden);
  // Inside the root, ".." is harmless.
  EXPECT_TRUE(std::holds_alternative<OpenFile>(r.open("sub/../a.txt")));
}

TEST_F(FileRootTest, SymlinksInsideWorkAndOutsideAreRefused) {
  const FileRoot r(root_.string());
  auto inside = r.open("inside-link");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(inside));
  EXPECT_EQ(std::get<OpenFile>(inside).size(), 3u);
  EXPECT_EQ(error_of(r, "escape-link"), FileError::forbidden);
  EXPECT_EQ(error_of(r, "absolute-link"), FileError::forbidden);
  EXPECT_EQ(error_of(r, "escape-dir/secret"), FileError::forbidden);
}

TEST_F(FileRootTest, MagicLinksAreRefused) {
  const FileRoot r(root_.string());
  stdfs::create_symlink("/proc/self/root/etc/passwd", root_ / "proc-link");
  EXPECT_EQ(error_of(r, "proc-link"), FileError::forbidden);
}

TEST_F(FileRootTest, FifosAndSocketsAreRefusedWithoutBlocking) {
  const FileRoot r(root_.string());
  EXPECT_EQ(error_of(r, "fifo"), FileError::not_regular);
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = (root_ / "sock").string();
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(error_of(r, "sock"), FileError::not_regular);
  ::close(s);
}

TEST_F(FileRootTest, DirectoriesOpenAndList) {
  const FileRoot r(root_.string());
  auto dir = r.open("");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  EXPECT_TRUE(std::get<OpenFile>(dir).is_directory());
  auto listed = r.list(std::get<OpenFile>(dir), "");
  ASSERT_TRUE(std::holds_alternative<std::vector<ListedEntry>>(listed));
  bool saw_a = false;
  bool saw_fifo = false;
  bool saw_sub = false;
  for (const ListedEntry& e : std::get<std::vector<ListedEntry>>(listed)) {
    saw_a |= e.name == "a.txt" && e.size == 5 && !e.is_directory;
    saw_sub |= e.name == "sub" && e.is_directory;
    saw_fifo |= e.name == "fifo";
  }
  EXPECT_TRUE(saw_a);
  EXPECT_TRUE(saw_sub);
  EXPECT_FALSE(saw_fifo);
}

TEST_F(FileRootTest, HiddenNamesAreRefusedUnlessAllowed) {
  write(root_ / ".secret", "s");
  stdfs::create_directories(root_ / ".git");
  write(root_ / ".git" / "config", "c");
  write(root_ / "..dots", "d");
  const FileRoot strict(root_.string());
  EXPECT_EQ(error_of(strict, ".secret"), FileError::forbidden);
  EXPECT_EQ(error_of(strict, ".git/config"), FileError::forbidden);
  EXPECT_EQ(error_of(strict, "/.git/config"), FileError::forbidden);
  EXPECT_EQ(error_of(strict, "sub/../.secret"), FileError::forbidden);
  EXPECT_EQ(error_of(strict, "..dots"), FileError::forbidden);
  EXPECT_TRUE(std::holds_alternative<OpenFile>(strict.open("./a.txt")));
  EXPECT_TRUE(std::holds_alternative<OpenFile>(strict.open("sub/../a.txt")));

  const FileRoot relaxed(root_.string(), true);
  EXPECT_TRUE(std::holds_alternative<OpenFile>(relaxed.open(".secret")));
  EXPECT_TRUE(std::holds_alternative<OpenFile>(relaxed.open(".git/config")));
}

TEST_F(FileRootTest, ListingSkipsHiddenNamesAndEscapingLinks) {
  write(root_ / ".secret", "s");
  const FileRoot r(root_.string());
  auto dir = r.open("");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  auto listed = r.list(std::get<OpenFile>(dir), "");
  ASSERT_TRUE(std::holds_alternative<std::vector<ListedEntry>>(listed));
  bool inside_link = false;
  for (const ListedEntry& e : std::get<std::vector<ListedEntry>>(listed)) {
    EXPECT_NE(e.name, ".secret");
    EXPECT_NE(e.name, "escape-link");  // its size and date are the outside file's
    EXPECT_NE(e.name, "absolute-link");
    EXPECT_NE(e.name, "escape-dir");
    if (e.name == "inside-link") {
      inside_link = true;
      EXPECT_EQ(e.size, 3u);  // described by its target beneath the root
    }
  }
  EXPECT_TRUE(inside_link);
  const FileRoot relaxed(root_.string(), true);
  auto all = relaxed.list(std::get<OpenFile>(dir), "");
  bool saw_hidden = false;
  for (const ListedEntry& e : std::get<std::vector<ListedEntry>>(all))
    saw_hidden |= e.name == ".secret";
  EXPECT_TRUE(saw_hidden);
}

TEST_F(FileRootTest, MissingAndBadNames) {
  const FileRoot r(root_.string());
  EXPECT_EQ(error_of(r, "nope"), FileError::not_found);
  EXPECT_EQ(error_of(r, "a.txt/x"), FileError::not_found);
  EXPECT_EQ(error_of(r, std::string(5000, 'a')), FileError::name_too_long);
  EXPECT_EQ(error_of(r, std::string_view("a.txt\0x", 7)), FileError::not_found);
}

TEST_F(FileRootTest, UnreadableFileIsForbidden) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  ::chmod((root_ / "a.txt").c_str(), 0);
  const FileRoot r(root_.string());
  EXPECT_EQ(error_of(r, "a.txt"), FileError::forbidden);
}

TEST(FileRoot, MissingRootThrows) {
  EXPECT_THROW(FileRoot("/nonexistent/iocomp/root"), std::runtime_error);
}

}  // namespace
}  // namespace iocomp::fs
