#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "tests/video/torch_doctest.hpp"
