// Pieces shared by the client formats' encoders (client_formats.cpp and
// responder_store.cpp). Internal to hearth_client.
//
// Thread safety: pure functions.
#pragma once

#include <deque>

#include "clients/lib/client_formats.h"
#include "clients/lib/secret_writer.h"
#include "common/byte_reader.h"

namespace hearth::client::detail {

// u32 count || count × (u8 author || u64 minute || u8 kind || lp(payload)).
void write_transcript(SecretWriter& w, const std::deque<TranscriptEntry>& transcript);
// kInvalidArgument past the transcript bounds, for an unknown author or non-UTF-8 text.
Result<std::deque<TranscriptEntry>> read_transcript(ByteReader& r);

}  // namespace hearth::client::detail
