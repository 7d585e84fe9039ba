// SHA-256 (FIPS 180-4), used for tokenizer fingerprints and file checksums in manifests.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace loratune {

class Sha256 {
 public:
  // Uses the CPU's SHA extensions (x86 SHA-NI) when it has them, unless allow_hardware is false (tests
  // compare both paths).
  explicit Sha256(bool allow_hardware = true);
  static bool hardware_available();
  void update(const void* data, size_t size);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> digest();  // finalises; the object must not be updated afterwards
  std::string hex_digest();

 private:
  void blocks(const uint8_t* p, size_t n);  // n 64-byte blocks
  bool hw_;
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);
std::string sha256_file_hex(const std::string& path);  // throws Error naming the file

}  // namespace loratune
