/* derl - automatic reward discovery for reinforcement learning.
 *
 * Include this header to get the whole public API of libderl-1.
 */
#pragma once

#define DERL_INSIDE_DERL_H 1
#include <derl/version.h>
#include <derl/error.h>
#include <derl/rng.h>
#include <derl/math.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/env.h>
#include <derl/backend.h>
#include <derl/policy.h>
#include <derl/optimizer.h>
#include <derl/primitive.h>
#include <derl/registry.h>
#include <derl/formula.h>
#include <derl/experiment.h>
#include <derl/metrics.h>
#include <derl/evaluate.h>
#include <derl/train.h>
#include <derl/bilevel.h>
#undef DERL_INSIDE_DERL_H
