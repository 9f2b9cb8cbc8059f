/* zpk: helpers for arrays (statistics for `zpk cat`). */
#ifndef ZPK_TOOL_ARRAY_H
#define ZPK_TOOL_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include <zmqpack.h>

/*
 * Min, max and mean of the @p nbytes / itemsize elements at @p data (any
 * byte order; complex: magnitudes; NaN elements ignored). Returns false
 * when there is nothing to summarise (empty, or every element NaN).
 */
bool zt_array_stats(const void *data, size_t nbytes, zpk_dtype_t dt, double *min,
                    double *max, double *mean);

#endif
