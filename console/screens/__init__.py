"""Full screens of the console beyond the class grid."""
