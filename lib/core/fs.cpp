#include "core/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace loratune {
namespace fs = std::filesystem;

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string parent_dir(const std::string& path) {
  auto p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

std::string read_text_file(const std::string& path) {
  if (is_directory(path)) fail_input(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path + ": cannot open (" + std::strerror(errno) + ")",
                      "check that the path exists and is readable");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail_input(path + ": cannot open (" + std::strerror(errno) + ")",
               "check that the path exists and is readable");
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_input(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    // Private + writable = copy-on-write: tensors viewing the mapping may be modified in place without
    // touching the file (only the pages written are copied).
    void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail_runtime(path + ": mmap failed (" + std::strerror(e) + ")");
    }
    m->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

namespace {
[[noreturn]] void write_failure(const std::string& path, int err) {
  std::string hint = err == ENOSPC ? "the disk is full: free space or write elsewhere"
                                   : "check permissions and free space of the output location";
  fail_runtime(path + ": write failed (" + std::strerror(err) + "); nothing was written under this name",
               hint);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

AtomicPath::AtomicPath(std::string path, Kind kind, bool overwrite)
    : path_(std::move(path)), kind_(kind), overwrite_(overwrite) {
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  if (path_exists(path_) && !overwrite_)
    fail_input(path_ + ": already exists", "choose another output path, or pass {opt:force} to replace it");
  if (kind_ == Kind::File) {
    tmp_ = path_ + ".tmp";
    return;  // the writer creates the file
  }
  tmp_ = path_ + ".tmp-" + std::to_string(::getpid());
  remove_tree(tmp_);
  std::error_code ec;
  fs::create_directories(tmp_, ec);
  if (ec) fail_runtime(tmp_ + ": cannot create directory (" + ec.message() + ")",
                       "check permissions and free space of the output location");
}

AtomicPath::~AtomicPath() {
  if (committed_) return;
  if (kind_ == Kind::File)
    ::unlink(tmp_.c_str());
  else
    remove_tree(tmp_);
}

void AtomicPath::commit() {
  LT_CHECK(!committed_, "double commit");
  if (kind_ == Kind::File) {
    const int fd = ::open(tmp_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) write_failure(path_, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) write_failure(path_, err);
  } else {
    fsync_dir(tmp_);
  }
  std::string old;
  if (kind_ == Kind::Directory && path_exists(path_)) {
    if (!overwrite_)
      fail_input(path_ + ": already exists", "choose another output path, or pass {opt:force} to replace it");
    old = path_ + ".old-" + std::to_string(::getpid());
    if (::rename(path_.c_str(), old.c_str()) != 0) write_failure(path_, errno);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) write_failure(path_, errno);
  committed_ = true;
  if (!old.empty()) remove_tree(old);
  fsync_dir(parent_dir(path_));
}

AtomicFileWriter::AtomicFileWriter(std::string path) : target_(std::move(path), AtomicPath::Kind::File) {
  fd_ = ::open(target_.tmp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) write_failure(target_.path(), errno);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void AtomicFileWriter::write(const void* data, size_t size) {
  LT_CHECK(fd_ >= 0 && !target_.committed(), "write after commit");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      write_failure(target_.path(), errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
}

void AtomicFileWriter::commit() {
  LT_CHECK(fd_ >= 0 && !target_.committed(), "double commit");
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    write_failure(target_.path(), err);
  }
  if (::close(fd) != 0) write_failure(target_.path(), errno);
  target_.commit();  // fsync, rename, fsync the parent
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFileWriter w(path);
  w.write(contents);
  w.commit();
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace loratune
