#include "fs/directory_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace iocomp::fs {
namespace {

namespace stdfs = std::filesystem;

class DirectoryReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iocomp-dirreader-XXXXXX";
    base_ = ::mkdtemp(pattern);
    root_ = base_ / "root";
    stdfs::create_directories(root_ / "big");
    stdfs::create_directories(root_ / "sub" / "inner");
    stdfs::create_directories(base_ / "outside");
    write(base_ / "outside" / "secret", "secret!");
    write(root_ / "sub" / "f.txt", "12345");
    write(root_ / "sub" / ".hidden", "h");
    stdfs::create_symlink("f.txt", root_ / "sub" / "link-file");
    stdfs::create_symlink("inner", root_ / "sub" / "link-dir");
    stdfs::create_symlink("../../outside/secret", root_ / "sub" / "escape");
    stdfs::create_symlink("/etc/passwd", root_ / "sub" / "absolute");
    stdfs::create_symlink("missing", root_ / "sub" / "dangling");
    ::mkfifo((root_ / "sub" / "fifo").c_str(), 0600);
  }
  void TearDown() override { stdfs::remove_all(base_); }

  static void write(const stdfs::path& p, const std::string& text) { std::ofstream(p) << text; }

  // Reads the whole directory in batches of `batch`; counts the calls.
  static std::vector<ListedEntry> read_all(DirectoryReader& reader, std::size_t batch,
                                           std::size_t& calls) {
    std::vector<ListedEntry> out;
    calls = 0;
    for (;;) {
      ++calls;
      const std::size_t before = out.size();
      const DirectoryReader::Status status = reader.read(batch, out);
      EXPECT_LE(out.size() - before, batch);
      if (status == DirectoryReader::Status::end) return out;
      EXPECT_EQ(status, DirectoryReader::Status::more);
      if (status != DirectoryReader::Status::more || calls > 100000) return out;
    }
  }

  static DirectoryReader open_reader(const FileRoot& r, const OpenFile& dir,
                                     std::string_view relative) {
    auto opened = DirectoryReader::open(r, dir, relative);
    EXPECT_TRUE(std::holds_alternative<DirectoryReader>(opened));
    return std::get<DirectoryReader>(std::move(opened));
  }

  stdfs::path base_;
  stdfs::path root_;
};

TEST_F(DirectoryReaderTest, FiltersLikeTheListingRule) {
  const FileRoot r(root_.string());
  auto dir = r.open("sub");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  DirectoryReader reader = open_reader(r, std::get<OpenFile>(dir), "sub");
  std::size_t calls = 0;
  std::vector<ListedEntry> entries = read_all(reader, 1, calls);
  std::set<std::string> names;
  for (const ListedEntry& e : entries) names.insert(e.name);
  EXPECT_EQ(names, (std::set<std::string>{"f.txt", "inner", "link-dir", "link-file"}));
  for (const ListedEntry& e : entries) {
    if (e.name == "link-file") {
      EXPECT_FALSE(e.is_directory);
      EXPECT_EQ(e.size, 5u);  // described by its target beneath the root
    }
    if (e.name == "link-dir" || e.name == "inner") {
      EXPECT_TRUE(e.is_directory);
    }
    if (e.name == "f.txt") {
      EXPECT_EQ(e.size, 5u);
    }
  }
  // "." and ".." and eight visible names: one entry examined per call, then the end.
  EXPECT_GE(calls, 9u);
}

TEST_F(DirectoryReaderTest, HiddenNamesOnlyWhenAllowed) {
  const FileRoot relaxed(root_.string(), true);
  auto dir = relaxed.open("sub");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  DirectoryReader reader = open_reader(relaxed, std::get<OpenFile>(dir), "/sub/");
  std::size_t calls = 0;
  const std::vector<ListedEntry> entries = read_all(reader, 64, calls);
  EXPECT_TRUE(std::any_of(entries.begin(), entries.end(),
                          [](const ListedEntry& e) { return e.name == ".hidden"; }));
  EXPECT_FALSE(std::any_of(entries.begin(), entries.end(), [](const ListedEntry& e) {
    return e.name == "escape" || e.name == "." || e.name == "..";
  }));
}

TEST_F(DirectoryReaderTest, LargeDirectoryInBoundedBatches) {
  constexpr int kFiles = 3000;  // several getdents64 buffers
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = (root_ / "big" / ("file-" + std::to_string(i))).string();
    const int fd = ::open(name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  const FileRoot r(root_.string());
  auto dir = r.open("big");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  DirectoryReader reader = open_reader(r, std::get<OpenFile>(dir), "big");
  std::size_t calls = 0;
  const std::vector<ListedEntry> entries = read_all(reader, 100, calls);
  EXPECT_EQ(entries.size(), static_cast<std::size_t>(kFiles));
  std::set<std::string> names;
  for (const ListedEntry& e : entries) names.insert(e.name);
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kFiles));  // no entry twice
  EXPECT_GE(calls, static_cast<std::size_t>(kFiles / 100));
  // After the end, more reads stay at the end.
  std::vector<ListedEntry> more;
  EXPECT_EQ(reader.read(100, more), DirectoryReader::Status::end);
  EXPECT_TRUE(more.empty());
}

TEST_F(DirectoryReaderTest, OwnDescriptorOutlivesTheCallers) {
  const FileRoot r(root_.string());
  auto dir = r.open("sub");
  ASSERT_TRUE(std::holds_alternative<OpenFile>(dir));
  DirectoryReader reader = open_reader(r, std::get<OpenFile>(dir), "sub");
  std::get<OpenFile>(dir).reset();  // the caller's descriptor is gone (or cached elsewhere)
  DirectoryReader moved = std::move(reader);
  std::size_t calls = 0;
  EXPECT_EQ(read_all(moved, 2, calls).size(), 4u);
}

}  // namespace
}  // namespace iocomp::fs
