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

// The one atomic-write primitive. A file or a directory is built under a temporary name beside <path>
// ("<path>.tmp" for a file, "<path>.tmp-<pid>" for a directory); commit() fsyncs it (the file, or the
// directory's entries), renames it onto <path> (an existing <path> is replaced only with overwrite; a
// replaced directory is moved aside first and removed after) and fsyncs the parent. Destroying an
// uncommitted AtomicPath removes the temporary. An existing <path> without overwrite is an input error
// raised at construction. Failures (e.g. a full disk) throw a runtime Error naming the path.
class AtomicPath {
 public:
  enum class Kind { File, Directory };
  AtomicPath(std::string path, Kind kind, bool overwrite = true);
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;

  const std::string& path() const { return path_; }
  const std::string& tmp_path() const { return tmp_; }
  std::string file(const std::string& name) const { return join_path(tmp_, name); }  // in a Directory
  bool committed() const { return committed_; }
  void commit();

 private:
  std::string path_, tmp_;
  Kind kind_;
  bool overwrite_;
  bool committed_ = false;
};

// A file written as a stream through an AtomicPath.
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
  AtomicPath target_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

void write_file_atomic(const std::string& path, const std::string& contents);

// A directory built through an AtomicPath: files go under tmp_path() (file(name)), commit() renames it.
class AtomicDirectory : public AtomicPath {
 public:
  AtomicDirectory(std::string path, bool overwrite) : AtomicPath(std::move(path), Kind::Directory, overwrite) {}
};

void remove_tree(const std::string& path);  // best effort, no throw

}  // namespace loratune
