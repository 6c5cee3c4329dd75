#include "tests/support/gzip.h"

#include <zlib.h>

namespace hearth::test {

std::string gunzip(const std::string& data) {
  z_stream z{};
  if (inflateInit2(&z, 16 + 15) != Z_OK) return "<bad gzip>";  // 16: a gzip header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
  }
  bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return whole ? out : "<bad gzip>";
}

}  // namespace hearth::test
