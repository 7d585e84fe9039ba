// Anchor translation unit for the shared precompiled torch header (see lib/CMakeLists.txt).
#include <torch/torch.h>
