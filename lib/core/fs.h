// File-system helpers: whole-file reads, read-only memory maps, and atomic writes
// (write <path>.tmp, fsync, rename) so that a crash never leaves a half file under the final name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace loratune {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string read_text_file(const std::string& path);  // throws Error (exit 2) naming the file
std::string join_path(const std::string& a, const std::string& b);
std::string parent_dir(const std::string& path);

// A private (copy-on-write) memory map of a whole file; the file itself is never modified. Shared ownership ties tensor lifetimes to the mapping.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Writes a file atomically. Bytes go to "<path>.tmp"; commit() fsyncs and renames it into place.
// Destroying an uncommitted writer removes the temporary file. Write errors (e.g. a full disk) throw
// a runtime Error naming the path.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();
  uint64_t bytes_written() const { return written_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& contents);

// Builds a directory atomically: files are written under "<path>.tmp-<pid>", commit() renames it to
// <path>. An existing <path> is an input error unless overwrite is set (then it is replaced).
// Destroying an uncommitted builder removes the temporary directory.
class AtomicDirectory {
 public:
  AtomicDirectory(std::string path, bool overwrite);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  const std::string& tmp_path() const { return tmp_; }
  std::string file(const std::string& name) const { return join_path(tmp_, name); }
  void commit();

 private:
  std::string path_, tmp_;
  bool overwrite_;
  bool committed_ = false;
};

void remove_tree(const std::string& path);  // best effort, no throw

}  // namespace loratune
