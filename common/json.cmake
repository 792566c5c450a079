target_sources(ff_common PRIVATE json.cpp)
