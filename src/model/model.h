/* model.h: the model layer's side of loading, not part of the public API. */
#ifndef HW_MODEL_MODEL_H
#define HW_MODEL_MODEL_H

#include "internal.h"
#include "io/load.h"

/* A model that takes what a loader filled (config, weights and the store they point
 * into); ld is emptied either way. NULL (error set) when out of memory. The one place a
 * model is bound: hw_model_load and the loaders' fuzz targets. */
hw_model *hw_model_bind(hw_loaded *ld);

#endif
