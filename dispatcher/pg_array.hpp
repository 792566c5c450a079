// PostgreSQL array literals for the dispatcher's batch statements (libpqxx 6.4 has no array
// parameters): common/pg_array.hpp is the one implementation.
#pragma once

#include "common/pg_array.hpp"

namespace ff::dispatcher {

using pg::int_array;
using pg::text_array;

}  // namespace ff::dispatcher
