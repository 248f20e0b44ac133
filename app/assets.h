/* SPDX-License-Identifier: Apache-2.0 */
/* Static files compiled into the binary (no external assets): the site's
 * stylesheet and the small live-stock script.  Static strings. */
#pragma once

extern const char asset_site_css[];
extern const char asset_live_js[];
