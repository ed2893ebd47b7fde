export const SITE_TITLE = 'Trailhead';
export const SITE_DESCRIPTION = 'Notes on the web platform, and on walking.';
