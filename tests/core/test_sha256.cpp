// SHA-256: the FIPS 180-4 / NIST example vectors on both block functions (portable and the CPU's SHA
// extensions when present), and both paths agreeing on every length and split of updates.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "core/sha256.h"

using namespace loratune;

namespace {
std::string hex(bool hw, const std::string& data, size_t chunk = 0) {
  Sha256 h(hw);
  if (chunk == 0) {
    h.update(data);
  } else {
    for (size_t i = 0; i < data.size(); i += chunk) h.update(data.data() + i, std::min(chunk, data.size() - i));
  }
  return h.hex_digest();
}
}  // namespace

TEST_CASE("SHA-256 gives the NIST example digests on both block functions", "[core][sha256]") {
  INFO("SHA extensions on this CPU: " << (Sha256::hardware_available() ? "yes" : "no (portable path twice)"));
  for (bool hw : {false, true}) {
    INFO("hardware allowed: " << hw);
    CHECK(hex(hw, "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex(hw, "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(hw, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(hex(hw, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                  "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(hex(hw, std::string(1000000, 'a'), 4097) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST_CASE("SHA-256: both paths agree on every length and way of splitting the input", "[core][sha256]") {
  std::mt19937 rng(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xff);
  for (size_t len = 0; len <= data.size(); len += (len < 200 ? 1 : 37)) {
    const std::string d = data.substr(0, len);
    const std::string want = hex(false, d);
    CHECK(hex(true, d) == want);
    CHECK(hex(true, d, 1) == want);
    CHECK(hex(false, d, 63) == want);
    CHECK(hex(true, d, 65) == want);
  }
  CHECK(sha256_hex("abc") == hex(false, "abc"));
}
