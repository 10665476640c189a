// A small education platform's content, for the demo.
export const sampleCourses = [
  {
    title: "Introduction to Astronomy",
    category: "Science",
    tags: ["space", "stars"],
    description: "Explore stars, planets, galaxies and the history of the universe.",
    learningObjectives: ["Identify constellations", "Explain how stars form"],
  },
  {
    title: "Python for Data Analysis",
    category: "Programming",
    tags: ["python", "pandas"],
    description: "Clean, transform and visualise data with pandas and matplotlib.",
    requirements: ["Basic Python"],
  },
  {
    title: "Watercolor Painting Basics",
    category: "Art",
    tags: ["painting"],
    description: "Washes, wet-on-wet technique, color mixing and simple landscapes.",
  },
];

export const sampleLessons = [
  {
    title: "How stars are born",
    content: "Stars form inside giant molecular clouds when gravity pulls gas and dust together until nuclear fusion ignites.",
  },
  {
    title: "Grouping data with pandas",
    content: "The groupby method splits a DataFrame into groups, applies a function such as sum or mean, and combines the results.",
  },
  {
    title: "Mixing greens and browns",
    content: "Blend ultramarine with burnt sienna for natural greys, and sap green with yellow ochre for landscape foliage.",
  },
];

export const samplePosts = [
  { title: "Best telescope for beginners?", body: "I want to see Saturn's rings from my balcony. Is a small refractor telescope enough?" },
  { title: "My pandas groupby is slow", body: "Grouping ten million rows takes minutes. Should I use categorical columns?" },
  { title: "Share your first watercolor landscape", body: "Post a photo of your painting and tell us which brushes you used." },
];

export const sampleComments = [
  "A 70mm refractor shows Saturn's rings nicely on a clear night.",
  "Converting the key column to categorical made my groupby ten times faster.",
  "I used a size 8 round brush for the sky wash.",
  "Great course, the lesson on star formation was my favourite.",
];
