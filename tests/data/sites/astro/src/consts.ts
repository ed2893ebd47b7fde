// Place any global data in this file.
export const SITE_TITLE = 'Trailhead';
export const SITE_DESCRIPTION = 'Notes on the web platform, and on walking.';
export const SITE_AUTHOR = 'Sam Lindqvist';
